/*
 * detector/train.c — deterministic training of a detector model.
 *
 * 1. Every sample is prepared exactly as detector_score() prepares it; rejected texts (too
 *    short, not English, ...) are left out and counted.
 * 2. Each (source, label) group gets equal weight, and each label half of the total, so that a
 *    large corpus cannot dominate and no source's length or topic can stand in for the label.
 * 3. Only when zstd_cross_entropy is used: the zstd dictionaries take an equal byte quota from
 *    every group (samples in hash order); those samples are then kept out of the classifier's
 *    fit, because their own bytes would be in the dictionary. Unused, no dictionary is built or
 *    stored (a dictionary is excerpts of the training corpora).
 * 4. machine_reference_llr, when used, compares character models of the machine reference
 *    corpus and of the human training text, the text's corpus family held out of the latter.
 *    N-gram tables are weighted counts per label; a sample's n-gram features are computed with
 *    its own counts removed (leave-one-out), so the fit sees them as it would an unseen text.
 * 5. L2 logistic regression on standardised features by Newton's method (features in the
 *    options' drop mask get weight 0); Platt scaling fitted on 5-fold out-of-fold logits; the
 *    synthetic threshold from the out-of-fold probabilities of each source's human texts.
 * 6. The model is written, loaded back, and the reference texts scored and recorded.
 * No clock, no unordered iteration, no threads: same samples and seed give the same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/limits.h"
#include "detector/internal.h"

#define NF DETECTOR_FEATURE_COUNT
#define NB ((size_t)1 << DETECTOR_TABLE_BITS)
#define GROUPS_MAX 256
#define GROUP_MASS 1048576.0 /* n-gram mass of each group */
#define ALPHA 1.0            /* additive smoothing, in weighted counts */
#define DICT_TARGET 65536    /* bytes of each dictionary */
#define DICT_PIECE 4096      /* bytes taken from one sample */
#define LLR_MAX 15.99
#define L2 30.0
#define FOLDS 5
#define TARGET_FPR 0.01
#define THRESHOLD_HUMAN 0.5

struct tsample {
    struct detector_text t;
    int label, group, kind, fold; /* kind: index into trainer.kinds, -1 for none */
    uint64_t key;
    bool in_dict;
    double w, f[NF];
    size_t nchar, nword;
};

struct group {
    const char *source;
    int label;
    size_t count, used, in_dict, grams_char, grams_word, words, chars;
};

/* Reference texts written for this purpose (not taken from any corpus). */
static const char *const reference_texts[] = {
    "ok so the bus didn't show up again this morning, third time this week. i ended up walking "
    "the whole way in the rain and got to work soaked, my shoes are still squelching. honestly "
    "if the council can't sort the timetable out i'm going to start cycling, even if it means "
    "arriving sweaty. anyway, anyone know a decent place near the station that fixes bikes "
    "cheap? mine has a bent wheel from when my brother borrowed it last summer and never said.",
    "In conclusion, effective time management is essential for achieving both personal and "
    "professional success. By prioritizing tasks, setting clear goals, and minimizing "
    "distractions, individuals can significantly enhance their productivity. Furthermore, "
    "maintaining a healthy work-life balance ensures that they remain motivated and focused. "
    "Ultimately, developing these skills is a valuable investment that leads to long-term "
    "growth, improved well-being, and greater overall satisfaction in every aspect of life.",
    "The samples were centrifuged at 4,000 g for ten minutes and the supernatant discarded. We "
    "resuspended the pellet in buffer (pH 7.4), repeated the wash twice, and measured optical "
    "density at 600 nm; two of the twelve tubes had cracked in the rotor, so those readings "
    "were dropped. Growth curves for the remaining strains differed less than we expected, which "
    "suggests the knockout matters little under these conditions, though we did not test "
    "anaerobic growth.",
    "Too short to judge.",
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_text(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void count_gram(uint32_t bucket, void *ctx)
{
    (void)bucket;
    (*(size_t *)ctx)++;
}

struct acc {
    double *counts;
    double w;
};

static void add_gram(uint32_t bucket, void *ctx)
{
    struct acc *a = ctx;
    a->counts[bucket] += a->w;
}

struct collect {
    uint32_t *b;
    size_t n;
};

static void collect_gram(uint32_t bucket, void *ctx)
{
    struct collect *c = ctx;
    c->b[c->n++] = bucket;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double clamp_llr(double v)
{
    return v > LLR_MAX ? LLR_MAX : (v < -LLR_MAX ? -LLR_MAX : v);
}

/* LLR of a bucket with counts[label] minus `own` (and total minus own_total) for one label. */
static double llr(double c0, double c1, double n0, double n1)
{
    double b = (double)NB;
    return clamp_llr(log((c1 + ALPHA) / (n1 + ALPHA * b)) - log((c0 + ALPHA) / (n0 + ALPHA * b)));
}

/* Mean leave-one-out LLR of a sample's grams (buckets sorted in place). */
static double loo_mean(uint32_t *b, size_t n, double *const counts[2], const double total[2],
                       int label, double gw)
{
    double sum = 0, own_total = gw * (double)n;
    size_t i = 0;
    if (n == 0)
        return 0;
    qsort(b, n, sizeof *b, cmp_u32);
    while (i < n) {
        size_t j = i;
        while (j < n && b[j] == b[i])
            j++;
        double own = gw * (double)(j - i), c[2] = {counts[0][b[i]], counts[1][b[i]]};
        double t[2] = {total[0], total[1]};
        c[label] -= own;
        t[label] -= own_total;
        if (c[label] < 0)
            c[label] = 0;
        sum += (double)(j - i) * round(llr(c[0], c[1], t[0], t[1]) * DETECTOR_LLR_SCALE) /
               DETECTOR_LLR_SCALE;
        i = j;
    }
    return sum / (double)n;
}

/* Surprisal in bits of a bucket under the pooled corpus, as the model file stores it. */
static double surprisal(double c, double n)
{
    double v = -log2((c + ALPHA) / (n + ALPHA * (double)NB));
    v = v > 31.0 ? 31.0 : (v < 0 ? 0 : v);
    return round(v * DETECTOR_SURPRISAL_SCALE) / DETECTOR_SURPRISAL_SCALE;
}

/* Solves A x = b (d x d, A overwritten) by Gaussian elimination with partial pivoting. */
static bool solve(double *a, double *b, int d)
{
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(a[r * d + c]) > fabs(a[p * d + c]))
                p = r;
        if (fabs(a[p * d + c]) < 1e-300)
            return false;
        if (p != c) {
            for (int k = 0; k < d; k++) {
                double tmp = a[c * d + k];
                a[c * d + k] = a[p * d + k];
                a[p * d + k] = tmp;
            }
            double tmp = b[c];
            b[c] = b[p];
            b[p] = tmp;
        }
        for (int r = c + 1; r < d; r++) {
            double f = a[r * d + c] / a[c * d + c];
            for (int k = c; k < d; k++)
                a[r * d + k] -= f * a[c * d + k];
            b[r] -= f * b[c];
        }
    }
    for (int c = d - 1; c >= 0; c--) {
        for (int k = c + 1; k < d; k++)
            b[c] -= a[c * d + k] * b[k];
        b[c] /= a[c * d + c];
    }
    return true;
}

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

/* Weighted L2 logistic regression (bias unpenalised) on rows x[i*d..] with d-1 features and a
 * trailing 1. beta has d entries. `skip_fold` >= 0 leaves that fold out. */
static bool fit_logistic(const struct tsample *s, size_t n, double (*x)[NF + 1], int d,
                         double l2, int skip_fold, double *beta)
{
    double h[(NF + 1) * (NF + 1)], g[NF + 1];
    memset(beta, 0, sizeof(double) * (size_t)d);
    for (int it = 0; it < 50; it++) {
        double step = 0;
        memset(h, 0, sizeof h);
        memset(g, 0, sizeof g);
        for (size_t i = 0; i < n; i++) {
            if (s[i].in_dict || s[i].fold == skip_fold)
                continue;
            double eta = 0;
            for (int k = 0; k < d; k++)
                eta += beta[k] * x[i][k];
            double p = sigmoid(eta), wv = s[i].w * p * (1 - p), r = s[i].w * (p - s[i].label);
            for (int k = 0; k < d; k++) {
                g[k] += r * x[i][k];
                for (int j = 0; j < d; j++)
                    h[k * d + j] += wv * x[i][k] * x[i][j];
            }
        }
        for (int k = 0; k < d - 1; k++) {
            g[k] += l2 * beta[k];
            h[k * d + k] += l2;
        }
        h[(d - 1) * d + d - 1] += 1e-9;
        if (!solve(h, g, d))
            return false;
        for (int k = 0; k < d; k++) {
            beta[k] -= g[k];
            step = fmax(step, fabs(g[k]));
        }
        if (step < 1e-12)
            break;
    }
    return true;
}

/* Equal weights (an "improper linear model"): each used feature gets weight +1 or -1 on its
 * standardised scale, the sign of its weighted mean difference between machine and human
 * samples outside skip_fold; no bias (Platt scaling supplies it). Learns nothing from how the
 * features co-vary within the training corpora, which is what fails to transfer to a corpus
 * the model has not seen (docs/detector.md). */
static void fit_equal(const struct tsample *s, size_t n, double (*x)[NF + 1], const bool *keep,
                      int skip_fold, double *beta)
{
    double sum[2][NF] = {{0}}, wsum[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (s[i].in_dict || s[i].fold == skip_fold)
            continue;
        wsum[s[i].label] += s[i].w;
        for (int k = 0; k < NF; k++)
            sum[s[i].label][k] += s[i].w * x[i][k];
    }
    for (int k = 0; k < NF; k++) {
        double d = 0;
        if (wsum[0] > 0 && wsum[1] > 0)
            d = sum[1][k] / wsum[1] - sum[0][k] / wsum[0];
        beta[k] = !keep[k] ? 0 : (d > 0 ? 1 : (d < 0 ? -1 : 0));
    }
    beta[NF] = 0;
}

struct scored {
    double p;
    int label;
};

static int cmp_scored(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    return (x->p > y->p) - (x->p < y->p);
}

/* AUROC with ties counted half; 0.5 when one class is empty. */
static double auroc(struct scored *v, size_t n)
{
    double pos = 0, neg = 0, rank_sum = 0;
    size_t i = 0;
    qsort(v, n, sizeof *v, cmp_scored);
    while (i < n) {
        size_t j = i;
        while (j < n && v[j].p == v[i].p)
            j++;
        double avg = (double)(i + j + 1) / 2.0;
        for (size_t k = i; k < j; k++)
            if (v[k].label == 1) {
                rank_sum += avg;
                pos++;
            } else {
                neg++;
            }
        i = j;
    }
    if (pos == 0 || neg == 0)
        return 0.5;
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

static int cmp_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* The smallest score at which at most TARGET_FPR of the m human scores in ps would be flagged
 * (ps is sorted in place, highest first). */
static double target_cut(double *ps, size_t m)
{
    qsort(ps, m, sizeof *ps, cmp_double_desc);
    return ps[(size_t)floor(TARGET_FPR * (double)m)] + 1e-6;
}

struct trainer {
    struct tsample *s;
    size_t n;
    struct group g[GROUPS_MAX];
    int ngroups;
    struct {
        int group;
        const char *name;
    } kinds[GROUPS_MAX]; /* named kinds of human writing within a group (threshold rule) */
    int nkinds;
    double *counts_char[2], *counts_word[2], total_char[2], total_word[2];
    double *human_word; /* weighted word counts of the human texts: the rank table */
    double rank_cut[DETECTOR_RANK_CLASSES - 1]; /* counts of the 10th, 100th, 1000th word */
    char *dict[2];
    size_t dict_len[2];
    char *ref; /* normalised machine reference corpus, or NULL when its feature is dropped */
    size_t ref_len, ref_pieces;
    double *lm_ref, *lm_bg; /* character models of the reference and of the training text */
    double lm_bg_total;
    double mean[NF], scale[NF], beta[NF + 1], platt_a, platt_b, t_synth, ood_z;
    double t_short;       /* synthetic threshold for texts under DETECTOR_SHORT_WORDS words */
    size_t short_scored;  /* human prefixes behind t_short */
    double (*x)[NF + 1];
    double *oof;
    double oof_auroc;
    size_t rejected;
    bool keep[NF];
    uint32_t drop;
    bool equal;
    double l2;
    double auc_lo[NF], auc_hi[NF];
};

static void trainer_free(struct trainer *tr)
{
    for (size_t i = 0; i < tr->n; i++)
        detector_text_release(&tr->s[i].t);
    free(tr->s);
    for (int c = 0; c < 2; c++) {
        free(tr->counts_char[c]);
        free(tr->counts_word[c]);
        free(tr->dict[c]);
    }
    free(tr->ref);
    free(tr->lm_ref);
    free(tr->lm_bg);
    free(tr->human_word);
    free(tr->x);
    free(tr->oof);
}

/* Rank class of a word whose weighted count in the human texts is c. */
static int rank_class(const struct trainer *tr, double c)
{
    int k = 0;
    while (k < DETECTOR_RANK_CLASSES - 1 && !(c > 0 && c >= tr->rank_cut[k]))
        k++;
    return k;
}

/* Builds the human word-frequency table and the counts at ranks 10, 100 and 1000. */
static enum lode_code build_rank_table(struct trainer *tr, struct lode_error *err)
{
    static const size_t ranks[DETECTOR_RANK_CLASSES - 1] = {10, 100, 1000};
    double *sorted;
    tr->human_word = calloc(NB, sizeof(double));
    sorted = malloc(NB * sizeof(double));
    if (tr->human_word == NULL || sorted == NULL) {
        free(sorted);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the rank table");
    }
    for (size_t i = 0; i < tr->n; i++) {
        const struct tsample *s = &tr->s[i];
        if (s->label != 0)
            continue;
        double w = GROUP_MASS / (double)tr->g[s->group].words;
        for (size_t k = 0; k < s->t.nwords; k++)
            tr->human_word[detector_word_bucket(&s->t, k)] += w;
    }
    memcpy(sorted, tr->human_word, NB * sizeof(double));
    qsort(sorted, NB, sizeof(double), cmp_double_desc);
    for (int k = 0; k < DETECTOR_RANK_CLASSES - 1; k++)
        tr->rank_cut[k] = sorted[ranks[k] - 1];
    free(sorted);
    return LODE_OK;
}

/* Length of the family prefix of a source name ("seqxgpt-gpt2" -> "seqxgpt"). */
static size_t family_len(const char *s)
{
    const char *dash = strchr(s, '-');
    return dash != NULL ? (size_t)(dash - s) : strlen(s);
}

static bool same_family(const char *a, const char *b)
{
    size_t la = family_len(a), lb = family_len(b);
    return la == lb && memcmp(a, b, la) == 0;
}

/* Counts of the texts held out while their pooled features are computed, dense over the
 * buckets; only the buckets the held-out texts touch are written, and reset after use. */
struct heldout {
    double *chr, *word, *human;
    double total_chr, total_word;
    double cut[DETECTOR_RANK_CLASSES - 1];
    double *sorted; /* scratch for the rank cut-offs */
};

struct heldout_acc {
    double *table, w;
    bool reset;
};

static void heldout_add(uint32_t bucket, void *ctx)
{
    struct heldout_acc *a = ctx;
    a->table[bucket] = a->reset ? 0 : a->table[bucket] + a->w;
}

/* Adds (reset == false) or clears (true) the counts of samples members[0..nm) in h. */
static void heldout_counts(const struct trainer *tr, struct heldout *h, const size_t *members,
                           size_t nm, bool reset)
{
    h->total_chr = h->total_word = 0;
    for (size_t k = 0; k < nm; k++) {
        const struct tsample *s = &tr->s[members[k]];
        const struct group *g = &tr->g[s->group];
        struct heldout_acc a = {h->chr, GROUP_MASS / (double)g->grams_char, reset};
        h->total_chr += a.w * (double)detector_char_grams(&s->t, heldout_add, &a);
        a.table = h->word;
        a.w = GROUP_MASS / (double)g->grams_word;
        h->total_word += a.w * (double)detector_word_grams(&s->t, heldout_add, &a);
        if (s->label == 0) {
            a.table = h->human;
            a.w = GROUP_MASS / (double)g->words;
            detector_word_unigrams(&s->t, heldout_add, &a);
        }
    }
}

/* The rank cut-offs of the human table without the held-out counts. */
static void heldout_cuts(const struct trainer *tr, struct heldout *h)
{
    static const size_t ranks[DETECTOR_RANK_CLASSES - 1] = {10, 100, 1000};
    for (size_t b = 0; b < NB; b++)
        h->sorted[b] = tr->human_word[b] - h->human[b];
    qsort(h->sorted, NB, sizeof(double), cmp_double_desc);
    for (int k = 0; k < DETECTOR_RANK_CLASSES - 1; k++)
        h->cut[k] = h->sorted[ranks[k] - 1];
}

struct heldout_sum {
    const struct trainer *tr;
    const struct heldout *h;
    double sum, sumsq;
};

static void heldout_char(uint32_t b, void *ctx)
{
    struct heldout_sum *x = ctx;
    double c = x->tr->counts_char[0][b] + x->tr->counts_char[1][b] - x->h->chr[b];
    double v = surprisal(c < 0 ? 0 : c,
                         x->tr->total_char[0] + x->tr->total_char[1] - x->h->total_chr);
    x->sum += v;
    x->sumsq += v * v;
}

/* The pooled features of sample s (surprisal, rank classes, sentence spread) under the tables
 * without the held-out counts in h. surp has room for s's words. */
static void heldout_features(const struct trainer *tr, const struct heldout *h,
                             struct tsample *s, double *surp)
{
    struct heldout_sum cs = {tr, h, 0, 0};
    size_t nc = detector_char_grams(&s->t, heldout_char, &cs), n = s->t.nwords;
    size_t ranks[DETECTOR_RANK_CLASSES] = {0};
    double ws = 0, wsq = 0, total = tr->total_word[0] + tr->total_word[1] - h->total_word;
    for (size_t i = 0; i < n; i++) {
        uint32_t b = detector_word_bucket(&s->t, i);
        double c = tr->counts_word[0][b] + tr->counts_word[1][b] - h->word[b];
        double hc = tr->human_word[b] - h->human[b];
        int k = 0;
        surp[i] = surprisal(c < 0 ? 0 : c, total);
        ws += surp[i];
        wsq += surp[i] * surp[i];
        while (k < DETECTOR_RANK_CLASSES - 1 && !(hc > 1e-9 && hc >= h->cut[k]))
            k++;
        ranks[k]++;
    }
    detector_surprisal_features(cs.sum, nc, ws, wsq, n, s->f);
    detector_rank_features(ranks, n, s->f);
    s->f[FEAT_SENT_SURPRISAL_SD] = detector_sentence_spread(&s->t, surp);
}

/* Numbers the corpus families of the groups (fam_of[group]); returns how many there are. */
static int family_index(const struct trainer *tr, int fam_of[GROUPS_MAX])
{
    int nfam = 0;
    for (int g = 0; g < tr->ngroups; g++) {
        int f = 0;
        while (f < g && !same_family(tr->g[f].source, tr->g[g].source))
            f++;
        fam_of[g] = f < g ? fam_of[f] : nfam++;
    }
    return nfam;
}

/* Weight of one character of sample s in the background character model: every (source,
 * label) group carries the same number of characters, the mean over groups. */
static double lm_weight(const struct trainer *tr, const struct tsample *s, double mean_chars)
{
    return mean_chars / (double)tr->g[s->group].chars;
}

/* machine_reference_llr of samples members[0..nm) with their human texts held out of the
 * background model (`minus` is all zero before and after). */
static void reference_holdout(struct trainer *tr, const struct detector_lm *ref, double *minus,
                              const size_t *members, size_t nm, double mean_chars)
{
    double held = 0;
    for (int reset = 0; reset < 2; reset++) {
        for (size_t k = 0; k < nm; k++) {
            const struct tsample *s = &tr->s[members[k]];
            if (s->label != 0)
                continue;
            struct heldout_acc a = {minus, lm_weight(tr, s, mean_chars), reset == 1};
            detector_lm_grams(s->t.buf, s->t.len, heldout_add, &a);
            held += a.w * (double)s->t.len;
        }
        if (reset == 1)
            break;
        const struct detector_lm bg = {tr->lm_bg, minus, tr->lm_bg_total - held};
        for (size_t k = 0; k < nm; k++)
            if (!tr->s[members[k]].in_dict)
                tr->s[members[k]].f[FEAT_REF_LLR] =
                    detector_reference_llr(ref, &bg, &tr->s[members[k]].t);
    }
}

/* machine_reference_llr of every fitted sample, with its corpus family held out of the
 * background character model (each sample alone with a single family), as for the pooled
 * features. Builds tr->lm_ref and tr->lm_bg. */
static enum lode_code reference_features(struct trainer *tr, struct lode_error *err)
{
    double *minus = calloc(NB, sizeof(double)), mean_chars = 0;
    size_t *members = malloc((tr->n + 1) * sizeof *members);
    int fam_of[GROUPS_MAX], nfam = family_index(tr, fam_of), ng = 0;
    tr->lm_ref = calloc(NB, sizeof(double));
    tr->lm_bg = calloc(NB, sizeof(double));
    if (minus == NULL || members == NULL || tr->lm_ref == NULL || tr->lm_bg == NULL) {
        free(minus);
        free(members);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the character models");
    }
    struct heldout_acc a = {tr->lm_ref, 1, false};
    detector_lm_grams(tr->ref, tr->ref_len, heldout_add, &a);
    for (int g = 0; g < tr->ngroups; g++)
        if (tr->g[g].chars > 0 && tr->g[g].label == 0) {
            mean_chars += (double)tr->g[g].chars;
            ng++;
        }
    mean_chars /= ng > 0 ? ng : 1;
    tr->lm_bg_total = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const struct tsample *s = &tr->s[i];
        if (s->label != 0)
            continue;
        a = (struct heldout_acc){tr->lm_bg, lm_weight(tr, s, mean_chars), false};
        detector_lm_grams(s->t.buf, s->t.len, heldout_add, &a);
        tr->lm_bg_total += a.w * (double)s->t.len;
    }
    const struct detector_lm ref = {tr->lm_ref, NULL, (double)tr->ref_len};
    for (int f = 0; f < (nfam < 2 ? (int)tr->n : nfam); f++) {
        size_t nm = 0;
        if (nfam < 2)
            members[nm++] = (size_t)f;
        else
            for (size_t i = 0; i < tr->n; i++)
                if (fam_of[tr->s[i].group] == f)
                    members[nm++] = i;
        /* a family holding (nearly) all the human text would leave no background: its texts
         * are then held out one at a time */
        double held = 0;
        for (size_t k = 0; k < nm; k++)
            if (tr->s[members[k]].label == 0)
                held += lm_weight(tr, &tr->s[members[k]], mean_chars) *
                        (double)tr->s[members[k]].t.len;
        if (tr->lm_bg_total - held >= 0.1 * tr->lm_bg_total)
            reference_holdout(tr, &ref, minus, members, nm, mean_chars);
        else
            for (size_t k = 0; k < nm; k++)
                reference_holdout(tr, &ref, minus, &members[k], 1, mean_chars);
    }
    free(minus);
    free(members);
    return LODE_OK;
}

/* Computes the pooled features of every fitted sample with its own corpus family held out of
 * the pooled and human tables (source name up to '-': the SeqXGPT generators and their human
 * texts are one family), so that the fit sees these features as they are on a corpus the
 * model has never seen. With a single family, each sample is held out alone. */
static enum lode_code pooled_features(struct trainer *tr, size_t maxwords, struct lode_error *err)
{
    struct heldout h = {calloc(NB, sizeof(double)), calloc(NB, sizeof(double)),
                        calloc(NB, sizeof(double)), 0, 0, {0}, malloc(NB * sizeof(double))};
    size_t *members = malloc((tr->n + 1) * sizeof *members);
    double *surp = malloc((maxwords + 1) * sizeof *surp);
    int fam_of[GROUPS_MAX], nfam = family_index(tr, fam_of);
    enum lode_code rc = LODE_OK;
    if (h.chr == NULL || h.word == NULL || h.human == NULL || h.sorted == NULL ||
        members == NULL || surp == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not allocate the held-out tables");
        goto out;
    }
    if (nfam < 2) {
        memcpy(h.cut, tr->rank_cut, sizeof h.cut);
        for (size_t i = 0; i < tr->n; i++) {
            if (tr->s[i].in_dict)
                continue;
            heldout_counts(tr, &h, &i, 1, false);
            heldout_features(tr, &h, &tr->s[i], surp);
            heldout_counts(tr, &h, &i, 1, true);
        }
        goto out;
    }
    for (int f = 0; f < nfam; f++) {
        size_t nm = 0;
        for (size_t i = 0; i < tr->n; i++)
            if (fam_of[tr->s[i].group] == f)
                members[nm++] = i;
        heldout_counts(tr, &h, members, nm, false);
        heldout_cuts(tr, &h);
        for (size_t k = 0; k < nm; k++)
            if (!tr->s[members[k]].in_dict)
                heldout_features(tr, &h, &tr->s[members[k]], surp);
        heldout_counts(tr, &h, members, nm, true);
    }
out:
    free(h.chr);
    free(h.word);
    free(h.human);
    free(h.sorted);
    free(members);
    free(surp);
    return rc;
}

struct order_key {
    int group;
    uint64_t key;
    size_t index;
};

static int cmp_by_group_key(const void *a, const void *b)
{
    const struct order_key *x = a, *y = b;
    if (x->group != y->group)
        return (x->group > y->group) - (x->group < y->group);
    if (x->key != y->key)
        return (x->key > y->key) - (x->key < y->key);
    return (x->index > y->index) - (x->index < y->index);
}

static enum lode_code build_dicts(struct trainer *tr, struct lode_error *err)
{
    struct order_key *ok = malloc((tr->n + 1) * sizeof *ok);
    size_t *order = malloc((tr->n + 1) * sizeof *order);
    int per_label[2] = {0, 0};
    if (order == NULL || ok == NULL) {
        free(order);
        free(ok);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the sample order");
    }
    for (size_t i = 0; i < tr->n; i++) {
        ok[i].group = tr->s[i].group;
        ok[i].key = tr->s[i].key;
        ok[i].index = i;
    }
    qsort(ok, tr->n, sizeof *ok, cmp_by_group_key);
    for (size_t i = 0; i < tr->n; i++)
        order[i] = ok[i].index;
    free(ok);
    for (int k = 0; k < tr->ngroups; k++)
        per_label[tr->g[k].label]++;
    for (int c = 0; c < 2; c++) {
        tr->dict[c] = malloc(DICT_TARGET + DICT_PIECE + 1);
        if (tr->dict[c] == NULL) {
            free(order);
            return lode_error_set(err, LODE_ENOMEM, "could not allocate a dictionary");
        }
    }
    size_t i = 0;
    while (i < tr->n) {
        int grp = tr->s[order[i]].group, c = tr->g[grp].label;
        size_t quota = DICT_TARGET / (size_t)per_label[c], taken = 0;
        for (; i < tr->n && tr->s[order[i]].group == grp; i++) {
            struct tsample *s = &tr->s[order[i]];
            /* keep at least 2/3 of a group for the fit */
            if (taken >= quota || tr->g[grp].in_dict * 3 + 3 > tr->g[grp].used)
                continue;
            size_t piece = s->t.len < DICT_PIECE ? s->t.len : DICT_PIECE;
            if (tr->dict_len[c] + piece + 1 > DICT_TARGET + DICT_PIECE)
                continue;
            memcpy(tr->dict[c] + tr->dict_len[c], s->t.buf, piece);
            tr->dict_len[c] += piece;
            tr->dict[c][tr->dict_len[c]++] = '\n';
            taken += piece + 1;
            s->in_dict = true;
            tr->g[grp].in_dict++;
        }
    }
    free(order);
    if (tr->dict_len[0] == 0 || tr->dict_len[1] == 0)
        return lode_error_set(err, LODE_EINVAL, "could not build the dictionaries: too few texts");
    return LODE_OK;
}

static enum lode_code prepare_samples(struct trainer *tr, const struct detector_sample *in,
                                      size_t n, const struct detector_train_options *opt,
                                      struct lode_error *err)
{
    tr->s = calloc(n ? n : 1, sizeof *tr->s);
    if (tr->s == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the samples");
    for (size_t i = 0; i < n; i++) {
        struct tsample *s = &tr->s[tr->n];
        const char *src = in[i].source != NULL ? in[i].source : "default";
        struct lode_error why;
        bool insufficient;
        int k;
        if (in[i].label != 0 && in[i].label != 1)
            return lode_error_set(err, LODE_EINVAL, "sample %zu has a label other than 0 or 1", i);
        if (opt->exclude_source != NULL && strcmp(src, opt->exclude_source) == 0)
            continue;
        for (k = 0; k < tr->ngroups; k++)
            if (tr->g[k].label == in[i].label && strcmp(tr->g[k].source, src) == 0)
                break;
        if (k == tr->ngroups) {
            if (tr->ngroups == GROUPS_MAX)
                return lode_error_set(err, LODE_EINVAL, "more than %d (source, label) groups",
                                      GROUPS_MAX);
            tr->g[k].source = src;
            tr->g[k].label = in[i].label;
            tr->ngroups++;
        }
        tr->g[k].count++;
        enum lode_code rc = detector_text_prepare(in[i].text, in[i].len, &s->t, &insufficient, &why);
        if (rc == LODE_EINVAL || rc == LODE_ETOOBIG) {
            tr->rejected++;
            continue;
        }
        if (rc != LODE_OK)
            return lode_error_set(err, rc, "%s", why.message);
        s->label = in[i].label;
        s->group = k;
        s->kind = -1;
        if (in[i].kind != NULL && in[i].label == 0) {
            int j;
            for (j = 0; j < tr->nkinds; j++)
                if (tr->kinds[j].group == k && strcmp(tr->kinds[j].name, in[i].kind) == 0)
                    break;
            if (j == tr->nkinds) {
                if (tr->nkinds == GROUPS_MAX) {
                    detector_text_release(&s->t); /* not counted in tr->n yet */
                    return lode_error_set(err, LODE_EINVAL, "more than %d kinds of human text",
                                          GROUPS_MAX);
                }
                tr->kinds[j].group = k;
                tr->kinds[j].name = in[i].kind;
                tr->nkinds++;
            }
            s->kind = j;
        }
        s->key = mix64(opt->seed ^ hash_text(in[i].text, in[i].len));
        s->fold = (int)(mix64(s->key ^ 0x1234567ull) % FOLDS);
        tr->g[k].used++;
        tr->n++;
    }
    return LODE_OK;
}

static enum lode_code compute_features(struct trainer *tr, struct lode_error *err)
{
    size_t maxgrams = 0, maxwords = 0;
    ZSTD_CDict *cd[2];
    for (int c = 0; c < 2; c++) {
        tr->counts_char[c] = calloc(NB, sizeof(double));
        tr->counts_word[c] = calloc(NB, sizeof(double));
        if (tr->counts_char[c] == NULL || tr->counts_word[c] == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not allocate the n-gram tables");
    }
    for (size_t i = 0; i < tr->n; i++) {
        struct tsample *s = &tr->s[i];
        detector_char_grams(&s->t, count_gram, &s->nchar);
        detector_word_grams(&s->t, count_gram, &s->nword);
        tr->g[s->group].grams_char += s->nchar;
        tr->g[s->group].grams_word += s->nword;
        tr->g[s->group].words += s->t.nwords;
        tr->g[s->group].chars += s->t.len;
        maxgrams = s->nchar > maxgrams ? s->nchar : maxgrams;
        maxgrams = s->nword > maxgrams ? s->nword : maxgrams;
        maxwords = s->t.nwords > maxwords ? s->t.nwords : maxwords;
    }
    for (size_t i = 0; i < tr->n; i++) {
        struct tsample *s = &tr->s[i];
        struct acc a = {tr->counts_char[s->label], GROUP_MASS / (double)tr->g[s->group].grams_char};
        detector_char_grams(&s->t, add_gram, &a);
        a.counts = tr->counts_word[s->label];
        a.w = GROUP_MASS / (double)tr->g[s->group].grams_word;
        detector_word_grams(&s->t, add_gram, &a);
    }
    for (int c = 0; c < 2; c++) {
        tr->total_char[c] = tr->total_word[c] = 0;
        for (size_t b = 0; b < NB; b++) {
            tr->total_char[c] += tr->counts_char[c][b];
            tr->total_word[c] += tr->counts_word[c][b];
        }
    }
    enum lode_code rc = build_rank_table(tr, err);
    if (rc != LODE_OK)
        return rc;
    bool xent = (tr->drop & 1u << FEAT_ZSTD_XENT) == 0;
    cd[0] = xent ? detector_cdict_create(tr->dict[0], tr->dict_len[0]) : NULL;
    cd[1] = xent ? detector_cdict_create(tr->dict[1], tr->dict_len[1]) : NULL;
    struct collect col = {malloc((maxgrams + 1) * sizeof(uint32_t)), 0};
    if ((xent && (cd[0] == NULL || cd[1] == NULL)) || col.b == NULL) {
        ZSTD_freeCDict(cd[0]);
        ZSTD_freeCDict(cd[1]);
        free(col.b);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the feature buffers");
    }
    for (size_t i = 0; i < tr->n; i++) {
        struct tsample *s = &tr->s[i];
        if (s->in_dict)
            continue;
        detector_text_style(&s->t, s->f);
        if (xent) {
            size_t zh = detector_compressed_size(cd[0], &s->t);
            size_t zm = detector_compressed_size(cd[1], &s->t);
            s->f[FEAT_ZSTD_XENT] = 8.0 * ((double)zh - (double)zm) / (double)s->t.len;
        }
        col.n = 0;
        detector_char_grams(&s->t, collect_gram, &col);
        s->f[FEAT_CHAR_NGRAM] = loo_mean(col.b, col.n, tr->counts_char, tr->total_char, s->label,
                                         GROUP_MASS / (double)tr->g[s->group].grams_char);
        col.n = 0;
        detector_word_grams(&s->t, collect_gram, &col);
        s->f[FEAT_WORD_NGRAM] = loo_mean(col.b, col.n, tr->counts_word, tr->total_word, s->label,
                                         GROUP_MASS / (double)tr->g[s->group].grams_word);
    }
    free(col.b);
    ZSTD_freeCDict(cd[0]);
    ZSTD_freeCDict(cd[1]);
    rc = pooled_features(tr, maxwords, err);
    if (rc == LODE_OK && tr->ref != NULL)
        rc = reference_features(tr, err);
    return rc;
}

/* Records, for every feature, the range of its AUROC alone over the training sources: for each
 * machine group, its texts against the human texts of the same family (source name up to '-').
 * A range that straddles 0.5 marks a feature whose direction depends on the corpus. The
 * features named in the training options' drop mask get weight 0 (docs/detector.md gives the
 * leave-one-source-out measurements behind the default mask). */
static enum lode_code select_features(struct trainer *tr, struct lode_error *err)
{
    struct scored *v = malloc((tr->n + 1) * sizeof *v);
    if (v == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the selection buffer");
    for (int k = 0; k < NF; k++) {
        double lo = 1, hi = 0;
        for (int g = 0; g < tr->ngroups; g++) {
            size_t nv = 0;
            bool has_human = false;
            if (tr->g[g].label != 1)
                continue;
            for (size_t i = 0; i < tr->n; i++) {
                const struct tsample *s = &tr->s[i];
                if (s->in_dict)
                    continue;
                if (s->group == g ||
                    (s->label == 0 && same_family(tr->g[s->group].source, tr->g[g].source))) {
                    v[nv].p = s->f[k];
                    v[nv++].label = s->label;
                    has_human |= s->label == 0;
                }
            }
            if (!has_human || nv == 0)
                continue;
            double a = auroc(v, nv);
            lo = fmin(lo, a);
            hi = fmax(hi, a);
        }
        tr->auc_lo[k] = lo;
        tr->auc_hi[k] = hi;
        tr->keep[k] = (tr->drop & (1u << k)) == 0;
        if (!tr->keep[k])
            for (size_t i = 0; i < tr->n; i++)
                tr->x[i][k] = 0;
    }
    free(v);
    return LODE_OK;
}

/* Weighted log-loss of the Platt mapping ab on the out-of-fold logits. */
static double platt_loss(const struct trainer *tr, const double ab[2])
{
    double loss = 0;
    for (size_t i = 0; i < tr->n; i++) {
        if (tr->s[i].in_dict)
            continue;
        double z = ab[0] * tr->oof[i] + ab[1];
        /* -log sigmoid(z) for machine, -log(1 - sigmoid(z)) for human, without overflow */
        double m = tr->s[i].label ? -z : z;
        loss += tr->s[i].w * (m > 0 ? m + log1p(exp(-m)) : log1p(exp(m)));
    }
    return loss;
}

/* The sets the threshold rule and the metadata measure: set k < ngroups is (source, label)
 * group k, set ngroups + j is named kind j of human text. Texts in a zstd dictionary are in none. */
static bool in_set(const struct trainer *tr, size_t i, int k)
{
    return !tr->s[i].in_dict &&
           (k < tr->ngroups ? tr->s[i].group == k : tr->s[i].kind == k - tr->ngroups);
}

/* Out-of-fold error rate of set k at the synthetic threshold: the share of its texts flagged
 * (human) or not flagged (machine); *scored counts them. */
static double oof_error_rate(const struct trainer *tr, int k, size_t *scored)
{
    bool machine = k < tr->ngroups && tr->g[k].label != 0;
    size_t errors = 0, m = 0;
    for (size_t i = 0; i < tr->n; i++)
        if (in_set(tr, i, k)) {
            double p = sigmoid(tr->platt_a * tr->oof[i] + tr->platt_b);
            m++;
            errors += machine ? p < tr->t_synth : p >= tr->t_synth;
        }
    *scored = m;
    return m ? (double)errors / (double)m : 0.0;
}

static enum lode_code fit(struct trainer *tr, struct lode_error *err)
{
    enum lode_code rc;
    int per_label[2] = {0, 0};
    double wsum = 0, nfit = 0, a_b[2] = {0, 0};
    for (int k = 0; k < tr->ngroups; k++)
        if (tr->g[k].used > tr->g[k].in_dict)
            per_label[tr->g[k].label]++;
    if (per_label[0] == 0 || per_label[1] == 0)
        return lode_error_set(err, LODE_EINVAL, "training needs usable human and machine texts");
    for (size_t i = 0; i < tr->n; i++) {
        struct tsample *s = &tr->s[i];
        if (s->in_dict)
            continue;
        s->w = 1.0 / ((double)per_label[s->label] * (double)(tr->g[s->group].used - tr->g[s->group].in_dict));
        wsum += s->w;
        nfit++;
    }
    for (size_t i = 0; i < tr->n; i++)
        tr->s[i].w *= nfit / wsum; /* weights sum to the number of fitted samples */
    for (int k = 0; k < NF; k++) {
        double m = 0, v = 0;
        for (size_t i = 0; i < tr->n; i++)
            if (!tr->s[i].in_dict)
                m += tr->s[i].w * tr->s[i].f[k];
        m /= nfit;
        for (size_t i = 0; i < tr->n; i++)
            if (!tr->s[i].in_dict)
                v += tr->s[i].w * (tr->s[i].f[k] - m) * (tr->s[i].f[k] - m);
        v /= nfit;
        tr->mean[k] = m;
        tr->scale[k] = v > 1e-18 ? sqrt(v) : 1.0;
    }
    tr->x = calloc(tr->n, sizeof *tr->x);
    tr->oof = calloc(tr->n, sizeof *tr->oof);
    if (tr->x == NULL || tr->oof == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the design matrix");
    tr->ood_z = 0;
    for (size_t i = 0; i < tr->n; i++) {
        for (int k = 0; k < NF; k++) {
            tr->x[i][k] = (tr->s[i].f[k] - tr->mean[k]) / tr->scale[k];
            if (!tr->s[i].in_dict)
                tr->ood_z = fmax(tr->ood_z, fabs(tr->x[i][k]));
        }
        tr->x[i][NF] = 1;
    }
    rc = select_features(tr, err);
    if (rc != LODE_OK)
        return rc;
    /* out of distribution: a used feature 1.5 times further out than any fitted text's */
    tr->ood_z = 0;
    for (size_t i = 0; i < tr->n; i++)
        for (int k = 0; k < NF; k++)
            if (tr->keep[k] && !tr->s[i].in_dict)
                tr->ood_z = fmax(tr->ood_z, fabs(tr->x[i][k]));
    tr->ood_z = fmax(8.0, 1.5 * tr->ood_z);
    /* out-of-fold logits */
    for (int f = 0; f < FOLDS; f++) {
        double b[NF + 1];
        if (tr->equal)
            fit_equal(tr->s, tr->n, tr->x, tr->keep, f, b);
        else if (!fit_logistic(tr->s, tr->n, tr->x, NF + 1, tr->l2, f, b))
            return lode_error_set(err, LODE_EINTERNAL, "could not fit a fold: singular system");
        for (size_t i = 0; i < tr->n; i++)
            if (tr->s[i].fold == f) {
                double eta = 0;
                for (int k = 0; k <= NF; k++)
                    eta += b[k] * tr->x[i][k];
                tr->oof[i] = eta;
            }
    }
    /* Platt: logistic regression of the label on the out-of-fold logit, by Newton's method
     * from a = b = 0 with the step halved until the weighted log-loss does not grow (a full
     * step from far away can overshoot and diverge when the logits are large) */
    double loss = platt_loss(tr, a_b);
    for (int it = 0; it < 100; it++) {
        double h[4] = {1e-9, 0, 0, 1e-9}, g[2] = {0, 0}, next[2] = {0, 0}, next_loss = loss;
        for (size_t i = 0; i < tr->n; i++) {
            if (tr->s[i].in_dict)
                continue;
            double s = tr->oof[i], p = sigmoid(a_b[0] * s + a_b[1]);
            double r = tr->s[i].w * (p - tr->s[i].label), wv = tr->s[i].w * p * (1 - p);
            g[0] += r * s;
            g[1] += r;
            h[0] += wv * s * s;
            h[1] += wv * s;
            h[2] += wv * s;
            h[3] += wv;
        }
        if (!solve(h, g, 2))
            break;
        double step = 1;
        for (int half = 0; half < 40; half++, step /= 2) {
            next[0] = a_b[0] - step * g[0];
            next[1] = a_b[1] - step * g[1];
            next_loss = platt_loss(tr, next);
            if (next_loss <= loss)
                break;
        }
        if (!(next_loss <= loss))
            break;
        a_b[0] = next[0];
        a_b[1] = next[1];
        loss = next_loss;
        if (step * (fabs(g[0]) + fabs(g[1])) < 1e-12)
            break;
    }
    tr->platt_a = a_b[0];
    tr->platt_b = a_b[1];
    if (tr->equal)
        fit_equal(tr->s, tr->n, tr->x, tr->keep, -1, tr->beta);
    else if (!fit_logistic(tr->s, tr->n, tr->x, NF + 1, tr->l2, -1, tr->beta))
        return lode_error_set(err, LODE_EINTERNAL, "could not fit the model: singular system");
    /* thresholds: the false-positive rate of each human group, and of each named kind of human
     * text within one, at most TARGET_FPR out of fold */
    double *ps = malloc((tr->n + 1) * sizeof *ps);
    struct scored *sc = malloc((tr->n + 1) * sizeof *sc);
    size_t nsc = 0;
    if (ps == NULL || sc == NULL) {
        free(ps);
        free(sc);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the threshold buffers");
    }
    tr->t_synth = 0.5;
    for (int k = 0; k < tr->ngroups + tr->nkinds; k++) {
        size_t m = 0;
        if (k < tr->ngroups && tr->g[k].label != 0)
            continue;
        for (size_t i = 0; i < tr->n; i++)
            if (in_set(tr, i, k))
                ps[m++] = sigmoid(tr->platt_a * tr->oof[i] + tr->platt_b);
        if (m == 0)
            continue;
        tr->t_synth = fmax(tr->t_synth, target_cut(ps, m));
    }
    tr->t_synth = fmin(tr->t_synth, 0.995);
    tr->t_short = tr->t_synth; /* raised by short_threshold() once the model exists */
    for (size_t i = 0; i < tr->n; i++)
        if (!tr->s[i].in_dict) {
            sc[nsc].p = tr->oof[i];
            sc[nsc++].label = tr->s[i].label;
        }
    tr->oof_auroc = auroc(sc, nsc);
    free(ps);
    free(sc);
    return LODE_OK;
}

static json_t *meta_json(const struct trainer *tr, const struct detector_train_options *opt,
                         json_t *provenance, json_t *reference)
{
    json_t *features = json_array(), *groups = json_array(), *fpr = json_object();
    for (int k = 0; k < NF; k++)
        json_array_append_new(features, json_pack("{s:s,s:f,s:f,s:f,s:b,s:f,s:f}", "name",
                                                  detector_feature_name((size_t)k), "mean",
                                                  tr->mean[k], "scale", tr->scale[k], "weight",
                                                  tr->beta[k], "selected", tr->keep[k],
                                                  "source_auroc_min", tr->auc_lo[k],
                                                  "source_auroc_max", tr->auc_hi[k]));
    for (int k = 0; k < tr->ngroups; k++) {
        size_t m;
        double rate = oof_error_rate(tr, k, &m);
        json_array_append_new(
            groups, json_pack("{s:s,s:s,s:I,s:I,s:I,s:f}", "source", tr->g[k].source, "label",
                              tr->g[k].label ? "machine" : "human", "texts",
                              (json_int_t)tr->g[k].count, "scored", (json_int_t)tr->g[k].used,
                              "in_dictionary", (json_int_t)tr->g[k].in_dict,
                              tr->g[k].label ? "oof_miss_rate" : "oof_false_positive_rate",
                              rate));
    }
    json_t *kinds = tr->nkinds > 0 ? json_array() : NULL;
    for (int j = 0; j < tr->nkinds; j++) {
        size_t m;
        double rate = oof_error_rate(tr, tr->ngroups + j, &m);
        json_array_append_new(kinds, json_pack("{s:s,s:s,s:I,s:f}", "source",
                                               tr->g[tr->kinds[j].group].source, "kind",
                                               tr->kinds[j].name, "scored", (json_int_t)m,
                                               "oof_false_positive_rate", rate));
    }
    json_decref(fpr);
    json_t *meta = json_pack(
        "{s:s,s:i,s:{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:i},s:o,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
        "s:o,s:{s:I,s:I,s:f,s:o,s:o,s:s,s:I}}",
        "format", "lode-detector", "version", DETECTOR_FORMAT_VERSION, "parameters", "table_bits",
        DETECTOR_TABLE_BITS, "char_n", DETECTOR_CHAR_N, "window_bytes", DETECTOR_WINDOW_BYTES,
        "min_words", DETECTOR_MIN_WORDS, "zstd_level", DETECTOR_ZSTD_LEVEL,
        "reference_window_bytes", DETECTOR_REF_WINDOW, "lm_order", DETECTOR_LM_ORDER, "l2", tr->l2,
        "target_fpr", TARGET_FPR, "folds", FOLDS, "features", features, "bias", tr->beta[NF],
        "platt_a", tr->platt_a, "platt_b", tr->platt_b, "threshold_synthetic", tr->t_synth,
        "threshold_human", fmin(THRESHOLD_HUMAN, tr->t_synth), "ood_z_max", tr->ood_z,
        "background_characters", tr->lm_bg != NULL ? tr->lm_bg_total : 0.0,
        "reference", reference, "training", "seed", (json_int_t)opt->seed, "rejected_texts",
        (json_int_t)tr->rejected, "oof_auroc", tr->oof_auroc, "groups", groups, "provenance",
        provenance, "combine", tr->equal ? "equal_weights" : "logistic_regression",
        "reference_pieces", (json_int_t)tr->ref_pieces);
    /* NULL on any failure: emit_model() reports it */
    if (meta != NULL &&
        (json_object_set_new(meta, "threshold_synthetic_short", json_real(tr->t_short)) != 0 ||
         json_object_set_new(json_object_get(meta, "training"), "short_text_prefixes",
                             json_integer((json_int_t)tr->short_scored)) != 0 ||
         (kinds != NULL &&
          json_object_set(json_object_get(meta, "training"), "human_kinds", kinds) != 0))) {
        json_decref(meta);
        meta = NULL;
    }
    json_decref(kinds);
    return meta;
}

static enum lode_code emit_model(const struct trainer *tr, const struct detector_train_options *opt,
                                 json_t *reference, uint8_t **out, size_t *len_out,
                                 struct lode_error *err)
{
    json_t *prov = opt->provenance != NULL ? json_loads(opt->provenance, 0, NULL) : json_null();
    int16_t *tab[5] = {malloc(NB * sizeof(int16_t)), malloc(NB * sizeof(int16_t)),
                       malloc(NB * sizeof(int16_t)), malloc(NB * sizeof(int16_t)),
                       malloc(NB * sizeof(int16_t))};
    enum lode_code rc;
    char *text;
    if (prov == NULL) {
        for (int k = 0; k < 5; k++)
            free(tab[k]);
        json_decref(reference);
        return lode_error_set(err, LODE_EINVAL, "provenance is not valid JSON");
    }
    json_t *meta = meta_json(tr, opt, prov, reference);
    text = meta != NULL ? json_dumps(meta, JSON_SORT_KEYS | JSON_INDENT(1) | JSON_REAL_PRECISION(17))
                        : NULL;
    json_decref(meta);
    if (text == NULL || tab[0] == NULL || tab[1] == NULL || tab[2] == NULL || tab[3] == NULL ||
        tab[4] == NULL) {
        free(text);
        for (int k = 0; k < 5; k++)
            free(tab[k]);
        return lode_error_set(err, LODE_ENOMEM, "could not build the model metadata");
    }
    for (size_t b = 0; b < NB; b++) {
        tab[0][b] = (int16_t)lround(llr(tr->counts_char[0][b], tr->counts_char[1][b],
                                        tr->total_char[0], tr->total_char[1]) *
                                    DETECTOR_LLR_SCALE);
        tab[1][b] = (int16_t)lround(llr(tr->counts_word[0][b], tr->counts_word[1][b],
                                        tr->total_word[0], tr->total_word[1]) *
                                    DETECTOR_LLR_SCALE);
        tab[2][b] = (int16_t)lround(surprisal(tr->counts_char[0][b] + tr->counts_char[1][b],
                                              tr->total_char[0] + tr->total_char[1]) *
                                    DETECTOR_SURPRISAL_SCALE);
        tab[3][b] = (int16_t)lround(surprisal(tr->counts_word[0][b] + tr->counts_word[1][b],
                                              tr->total_word[0] + tr->total_word[1]) *
                                    DETECTOR_SURPRISAL_SCALE);
        tab[4][b] = (int16_t)rank_class(tr, tr->human_word[b]);
    }
    /* the dictionaries are stored only when their feature is used: a dictionary of training
     * text is excerpts of the training corpora */
    bool xent = (tr->drop & 1u << FEAT_ZSTD_XENT) == 0;
    const struct detector_dicts dicts = {
        xent ? (const uint8_t *)tr->dict[0] : NULL, xent ? (const uint8_t *)tr->dict[1] : NULL,
        (const uint8_t *)tr->ref, xent ? tr->dict_len[0] : 0, xent ? tr->dict_len[1] : 0,
        tr->ref_len};
    float *bg = tr->lm_bg != NULL ? calloc(NB, sizeof(float)) : NULL;
    if (tr->lm_bg != NULL && bg == NULL) {
        free(text);
        for (int k = 0; k < 5; k++)
            free(tab[k]);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the background model");
    }
    for (size_t b = 0; tr->lm_bg != NULL && b < NB; b++)
        bg[b] = (float)tr->lm_bg[b];
    /* the likelihood-ratio tables only when their feature is used */
    const int16_t *const written[5] = {(tr->drop & 1u << FEAT_CHAR_NGRAM) == 0 ? tab[0] : NULL,
                                       (tr->drop & 1u << FEAT_WORD_NGRAM) == 0 ? tab[1] : NULL,
                                       tab[2], tab[3], tab[4]};
    rc = detector_model_write(text, &dicts, written, bg, out, len_out, err);
    free(bg);
    free(text);
    for (int k = 0; k < 5; k++)
        free(tab[k]);
    return rc;
}

/* Bytes of t up to the end of its first `words` whitespace-separated words, or 0 when t has
 * no more than that many words. */
static size_t word_prefix(const char *t, size_t len, size_t words)
{
    size_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        bool space = t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r';
        if (!space && !in_word && n++ == words)
            return i;
        in_word = !space;
    }
    return 0;
}

/* The short-text threshold. Scores drift on short texts (the first 50 words of a human
 * scientific article score far higher than the whole article), so texts under
 * DETECTOR_SHORT_WORDS words get a threshold of their own: the smallest probability at which at
 * most TARGET_FPR of the short prefixes (first 50 and 75 words) of every human training source's
 * texts would be flagged, and never below the main threshold. The prefixes are scored by the
 * trained model itself, whose pooled tables contain their words: that errs towards a higher
 * threshold. */
static const size_t short_prefix_words[] = {50, 75};

static enum lode_code short_threshold(struct trainer *tr, const struct detector_model *m,
                                      const struct detector_sample *in, size_t n,
                                      const struct detector_train_options *opt,
                                      struct lode_error *err)
{
    size_t nprefix = sizeof short_prefix_words / sizeof short_prefix_words[0];
    double *ps = malloc((n * nprefix + 1) * sizeof *ps);
    if (ps == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the short-text scores");
    tr->t_short = tr->t_synth; /* only raised */
    tr->short_scored = 0;
    for (int k = 0; k < tr->ngroups; k++) {
        size_t cnt = 0;
        if (tr->g[k].label != 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            const char *src = in[i].source != NULL ? in[i].source : "default";
            if (in[i].label != 0 || strcmp(src, tr->g[k].source) != 0 ||
                (opt->exclude_source != NULL && strcmp(src, opt->exclude_source) == 0))
                continue;
            if (word_prefix(in[i].text, in[i].len, DETECTOR_SHORT_WORDS) == 0)
                continue; /* only texts longer than the short range */
            for (size_t j = 0; j < nprefix; j++) {
                struct detector_result r;
                size_t cut = word_prefix(in[i].text, in[i].len, short_prefix_words[j]);
                enum lode_code rc = detector_score(m, in[i].text, cut, &r, err);
                if (rc != LODE_OK) {
                    free(ps);
                    return rc;
                }
                if (r.has_probability && r.words < DETECTOR_SHORT_WORDS)
                    ps[cnt++] = r.probability;
            }
        }
        if (cnt == 0)
            continue;
        tr->short_scored += cnt;
        tr->t_short = fmax(tr->t_short, target_cut(ps, cnt));
    }
    tr->t_short = fmin(tr->t_short, 0.999);
    free(ps);
    return LODE_OK;
}

enum lode_code detector_train(const struct detector_sample *samples, size_t n,
                              const struct detector_train_options *options, uint8_t **model_out,
                              size_t *len_out, struct lode_error *err)
{
    const struct detector_train_options *opt = options;
    struct trainer tr;
    uint8_t *first = NULL;
    size_t first_len = 0;
    struct detector_model *m = NULL;
    enum lode_code rc;
    json_t *refs;

    memset(&tr, 0, sizeof tr);
    tr.drop = options->drop_features;
    tr.equal = options->equal_weights;
    tr.l2 = options->l2 > 0 ? options->l2 : L2;
    *model_out = NULL;
    if (n > LODE_DETECTOR_TRAIN_SAMPLES_MAX)
        return lode_error_set(err, LODE_EINVAL, "more than %d training texts",
                              LODE_DETECTOR_TRAIN_SAMPLES_MAX);
    rc = prepare_samples(&tr, samples, n, opt, err);
    if (rc == LODE_OK && (tr.drop & 1u << FEAT_ZSTD_XENT) == 0)
        rc = build_dicts(&tr, err);
    if (rc == LODE_OK && (tr.drop & 1u << FEAT_REF_LLR) == 0) {
        if (opt->reference_machine == NULL)
            rc = lode_error_set(err, LODE_EINVAL,
                                "machine_reference_llr needs a machine reference corpus (or drop "
                                "that feature)");
        else
            rc = detector_reference_prepare(opt->reference_machine, opt->reference_machine_len,
                                            &tr.ref, &tr.ref_len, &tr.ref_pieces, err);
    }
    if (rc == LODE_OK)
        rc = compute_features(&tr, err);
    if (rc == LODE_OK)
        rc = fit(&tr, err);
    if (rc == LODE_OK)
        rc = emit_model(&tr, opt, json_array(), &first, &first_len, err);
    if (rc == LODE_OK)
        rc = detector_model_load_buffer(first, first_len, &m, err);
    free(first);
    if (rc != LODE_OK) {
        trainer_free(&tr);
        return rc;
    }
    rc = short_threshold(&tr, m, samples, n, opt, err);
    if (rc != LODE_OK) {
        detector_model_free(m);
        trainer_free(&tr);
        return rc;
    }
    m->threshold_synthetic_short = tr.t_short; /* the reference verdicts below use it */
    refs = json_array();
    for (size_t i = 0; i < sizeof reference_texts / sizeof reference_texts[0]; i++) {
        struct detector_result r;
        rc = detector_score(m, reference_texts[i], strlen(reference_texts[i]), &r, err);
        if (rc != LODE_OK)
            break;
        json_array_append_new(refs, json_pack("{s:s,s:f,s:s}", "text", reference_texts[i],
                                              "probability", r.probability, "verdict",
                                              detector_verdict_name(r.verdict)));
    }
    detector_model_free(m);
    if (rc == LODE_OK)
        rc = emit_model(&tr, opt, refs, model_out, len_out, err);
    else
        json_decref(refs);
    trainer_free(&tr);
    return rc;
}
