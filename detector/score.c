/*
 * detector/score.c — features under a model, calibrated probability, verdict and evidence.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "detector/internal.h"

struct llr_sum {
    const int16_t *table;
    double scale, sum, sumsq;
};

static void add_llr(uint32_t bucket, void *ctx)
{
    struct llr_sum *s = ctx;
    double v = s->table[bucket] / s->scale;
    s->sum += v;
    s->sumsq += v * v;
}

void detector_model_features(const struct detector_model *m, const struct detector_text *t,
                             double f[DETECTOR_FEATURE_COUNT])
{
    struct llr_sum c = {m->char_llr, DETECTOR_LLR_SCALE, 0, 0};
    struct llr_sum w = {m->word_llr, DETECTOR_LLR_SCALE, 0, 0};
    struct llr_sum bc = {m->char_bg, DETECTOR_SURPRISAL_SCALE, 0, 0};
    struct llr_sum bw = {m->word_bg, DETECTOR_SURPRISAL_SCALE, 0, 0};
    size_t nc, nw, zh, zm;

    memset(f, 0, sizeof(double) * DETECTOR_FEATURE_COUNT);
    detector_text_style(t, f);
    /* model-based features with weight 0 are not computed (they stay at 0) */
    if (m->weight[FEAT_CHAR_NGRAM] != 0) {
        nc = detector_char_grams(t, add_llr, &c);
        f[FEAT_CHAR_NGRAM] = nc > 0 ? c.sum / (double)nc : 0;
    }
    if (m->weight[FEAT_WORD_NGRAM] != 0) {
        nw = detector_word_grams(t, add_llr, &w);
        f[FEAT_WORD_NGRAM] = nw > 0 ? w.sum / (double)nw : 0;
    }
    nc = detector_char_grams(t, add_llr, &bc);
    nw = detector_word_unigrams(t, add_llr, &bw);
    detector_surprisal_features(bc.sum, nc, bw.sum, bw.sumsq, nw, f);
    size_t ranks[DETECTOR_RANK_CLASSES] = {0};
    for (size_t i = 0; i < t->nwords; i++)
        ranks[m->word_rank[detector_word_bucket(t, i)]]++;
    detector_rank_features(ranks, t->nwords, f);
    if (m->weight[FEAT_SENT_SURPRISAL_SD] != 0) {
        double *v = malloc((t->nwords + 1) * sizeof *v);
        if (v != NULL) {
            for (size_t i = 0; i < t->nwords; i++)
                v[i] = m->word_bg[detector_word_bucket(t, i)] / DETECTOR_SURPRISAL_SCALE;
            f[FEAT_SENT_SURPRISAL_SD] = detector_sentence_spread(t, v);
        } else {
            f[FEAT_SENT_SURPRISAL_SD] = m->mean[FEAT_SENT_SURPRISAL_SD]; /* no evidence */
        }
        free(v);
    }
    if (m->weight[FEAT_ZSTD_XENT] != 0) {
        zh = detector_compressed_size(m->cdict_human, t);
        zm = detector_compressed_size(m->cdict_machine, t);
        f[FEAT_ZSTD_XENT] = t->len > 0 ? 8.0 * ((double)zh - (double)zm) / (double)t->len : 0;
    }
    if (m->weight[FEAT_REF_LLR] != 0)
        f[FEAT_REF_LLR] = detector_reference_llr(&m->ref_lm, &m->bg_lm, t);
}

/* Plain-words labels of each feature, for the evidence. */
static const char *const labels[DETECTOR_FEATURE_COUNT] = {
    "compression against machine-written versus human-written training text",
    "character patterns",
    "word choice and word pairs",
    "variation of sentence lengths",
    "average sentence length",
    "vocabulary richness (moving type-token ratio)",
    "average word length",
    "use of commas",
    "use of semicolons and colons",
    "use of parentheses",
    "use of question and exclamation marks",
    "share of function words (the, of, and, ...)",
    "rarity of the letter sequences",
    "rarity of the words",
    "variation of word rarity",
    "share of the 10 most common words",
    "share of common words (frequency ranks 11-100)",
    "share of fairly common words (frequency ranks 101-1000)",
    "variation of word rarity between sentences",
    "repetition of three-word phrases",
    "likeness of the opening's letter sequences to machine-written reference text",
    "use of words that assistant models favour (delve, crucial, furthermore, ...)",
};

static void explain(struct detector_evidence *e, size_t i, double z)
{
    const char *towards = e->contribution > 0 ? "machine-generated text" : "human writing";
    if (i >= DETECTOR_FEATURE_COUNT)
        return;
    if (i <= FEAT_WORD_NGRAM)
        snprintf(e->explanation, sizeof e->explanation, "%s resemble%s %s", labels[i],
                 i == FEAT_ZSTD_XENT ? "s" : "", towards);
    else
        snprintf(e->explanation, sizeof e->explanation, "%s is %s than usual, as in %s", labels[i],
                 z > 0 ? "higher" : "lower", towards);
}

void detector_surprisal_features(double char_sum, size_t nchar, double word_sum, double word_sumsq,
                                 size_t nword, double f[DETECTOR_FEATURE_COUNT])
{
    double mw = nword > 0 ? word_sum / (double)nword : 0;
    double var = nword > 0 ? word_sumsq / (double)nword - mw * mw : 0;
    f[FEAT_CHAR_SURPRISAL] = nchar > 0 ? char_sum / (double)nchar : 0;
    f[FEAT_WORD_SURPRISAL] = mw;
    f[FEAT_WORD_SURPRISAL_SD] = var > 0 ? sqrt(var) : 0;
}

static double sigmoid(double x)
{
    return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
}

enum lode_code detector_score(const struct detector_model *m, const char *text, size_t len,
                              struct detector_result *r, struct lode_error *err)
{
    struct detector_text t;
    struct lode_error why;
    bool insufficient;
    double z[DETECTOR_FEATURE_COUNT], contrib[DETECTOR_FEATURE_COUNT], logit;
    size_t worst = DETECTOR_FEATURE_COUNT;
    enum lode_code rc;

    memset(r, 0, sizeof *r);
    if (len > LODE_DETECTOR_TEXT_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "text is larger than %u bytes",
                              LODE_DETECTOR_TEXT_BYTES_MAX);
    rc = detector_text_prepare(text, len, &t, &insufficient, &why);
    if (rc == LODE_EINVAL) {
        r->verdict = insufficient ? DETECTOR_INSUFFICIENT : DETECTOR_UNCERTAIN;
        snprintf(r->reason, sizeof r->reason, "%s", why.message);
        return LODE_OK;
    }
    if (rc != LODE_OK)
        return lode_error_set(err, rc, "%s", why.message);
    r->words = t.nwords;
    r->truncated = t.truncated;
    r->lines_left_out = t.lines_left_out;
    detector_model_features(m, &t, r->features);
    detector_text_release(&t);

    logit = m->bias;
    for (size_t i = 0; i < DETECTOR_FEATURE_COUNT; i++) {
        z[i] = (r->features[i] - m->mean[i]) / m->scale[i];
        contrib[i] = m->platt_a * m->weight[i] * z[i];
        logit += m->weight[i] * z[i];
        if (m->weight[i] != 0 && (worst == DETECTOR_FEATURE_COUNT || fabs(z[i]) > fabs(z[worst])))
            worst = i;
    }
    if (worst < DETECTOR_FEATURE_COUNT && fabs(z[worst]) > m->ood_z_max) {
        r->verdict = DETECTOR_UNCERTAIN;
        snprintf(r->reason, sizeof r->reason,
                 "unlike the texts the model was trained on: %s is far outside their range",
                 labels[worst]);
        return LODE_OK;
    }
    r->has_probability = true;
    r->probability = sigmoid(m->platt_a * logit + m->platt_b);
    /* evidence: the largest contributions, by magnitude (ties keep feature order) */
    bool used[DETECTOR_FEATURE_COUNT] = {0};
    for (size_t k = 0; k < DETECTOR_EVIDENCE_MAX; k++) {
        size_t best = DETECTOR_FEATURE_COUNT;
        for (size_t i = 0; i < DETECTOR_FEATURE_COUNT; i++)
            if (!used[i] && m->weight[i] != 0 &&
                (best == DETECTOR_FEATURE_COUNT || fabs(contrib[i]) > fabs(contrib[best])))
                best = i;
        if (best == DETECTOR_FEATURE_COUNT)
            break;
        used[best] = true;
        struct detector_evidence *e = &r->evidence[r->evidence_count++];
        e->feature = detector_feature_name(best);
        e->value = r->features[best];
        e->contribution = contrib[best];
        explain(e, best, z[best]);
    }
    /* short texts give less stable scores: below DETECTOR_SHORT_WORDS words the synthetic
     * threshold is the one fitted on short human texts (docs/detector.md) */
    bool short_text = r->words < DETECTOR_SHORT_WORDS;
    double t_synth = short_text ? m->threshold_synthetic_short : m->threshold_synthetic;
    if (r->probability >= t_synth) {
        r->verdict = DETECTOR_SYNTHETIC;
        snprintf(r->reason, sizeof r->reason,
                 "probability %.2f of being machine-generated is at or above the threshold %.2f%s",
                 r->probability, t_synth,
                 short_text ? " for short texts" : "");
    } else if (short_text && r->probability >= m->threshold_synthetic) {
        r->verdict = DETECTOR_UNCERTAIN;
        snprintf(r->reason, sizeof r->reason,
                 "probability %.2f would be flagged in a longer text, but under %d words a text "
                 "is flagged only at %.2f or above: short texts give less stable scores",
                 r->probability, DETECTOR_SHORT_WORDS, t_synth);
    } else if (r->probability < m->threshold_human) {
        r->verdict = DETECTOR_HUMAN;
        snprintf(r->reason, sizeof r->reason,
                 "probability %.2f of being machine-generated is below %.2f", r->probability,
                 m->threshold_human);
    } else {
        r->verdict = DETECTOR_UNCERTAIN;
        snprintf(r->reason, sizeof r->reason,
                 "probability %.2f is between %.2f and the threshold %.2f for a synthetic verdict",
                 r->probability, m->threshold_human, t_synth);
    }
    return LODE_OK;
}
