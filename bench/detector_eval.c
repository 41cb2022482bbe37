/*
 * bench/detector_eval.c — leave-one-source-out evaluation of the synthetic-text detector,
 * side by side with a ZipPy-style LZMA compression baseline on the same texts.
 *
 * usage: detector_eval JSONL_DIR ZIPPY_PRELUDE MACHINE_REFERENCE
 *   JSONL_DIR          the output of bench/detector_prepare.py (one <source>.jsonl per source)
 *   ZIPPY_PRELUDE      ZipPy's AI-text corpus (zippy/ai-generated.txt in the reference data)
 *   MACHINE_REFERENCE  detector/reference/machine-text.txt (for machine_reference_llr)
 *
 * For every source S a model is trained on all other sources (for a SeqXGPT generator, the
 * SeqXGPT human texts are held out too and form the human side of its test set) and scored on
 * S. Printed per source: texts, how many got a probability, AUROC of the detector and of the
 * baseline, the false-positive rate on human texts at the model's default threshold and the
 * share of machine texts flagged (detector: `synthetic` verdicts; baseline: ZipPy's rule,
 * compression delta > 0, and the baseline's share at the detector's false-positive count).
 * For the shipped configuration also: the held-out machine texts perturbed as a paraphrasing
 * tool would (a hand list of word substitutions; sentences shuffled) against the same human
 * texts, and the held-out texts of at least 200 words cut to their first 50, 100 and 200 words
 * (short texts). Then throughput of scoring and of the baseline, in MB/s on one core (median
 * of 3 runs over all texts). Then the in-domain setting: 5-fold cross-validation inside each source, for
 * the shipped configuration and for every learned feature with the logistic regression, next
 * to the baseline. The baseline is also run on the detector's normalised text. Figures only,
 * never pass/fail.
 *
 * Environment, for measuring alternatives: DETECTOR_EVAL_DROP (feature list replacing the
 * shipped drop list), DETECTOR_EVAL_COMBINE=logistic, DETECTOR_EVAL_L2, DETECTOR_EVAL_QUICK=1
 * (no all-features run), DETECTOR_EVAL_SKIP_BASELINE=1, DETECTOR_EVAL_IN_DOMAIN=0 (no
 * in-domain runs), DETECTOR_EVAL_DUMP=FILE (features of every scored held-out text, TSV).
 */
#include <dirent.h>
#include <jansson.h>
#include <lzma.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bench/bench.h"
#include "core/limits.h"
#include "detector/detector.h"
#include "detector/internal.h"

/* Mask of the comma-separated feature names in `list`; exits 2 on an unknown name. */
static uint32_t drop_mask_of(const char *list)
{
    uint32_t mask = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ","), k;
        for (k = 0; detector_feature_name(k) != NULL; k++)
            if (strlen(detector_feature_name(k)) == n && strncmp(detector_feature_name(k), p, n) == 0)
                break;
        if (n > 0 && detector_feature_name(k) == NULL) {
            fprintf(stderr, "unknown feature \"%.*s\"\n", (int)n, p);
            exit(2);
        }
        if (n > 0)
            mask |= 1u << k;
        p += n + (p[n] == ',');
    }
    return mask;
}

struct text {
    char *s;
    size_t len;
    int label;
    char source[64];
    char kind[64]; /* kind of human writing within the source ("" for none) */
    double lz;      /* ZipPy's delta on the text as given */
    double lz_norm; /* the same on the detector's normalised text, against the normalised prelude */
};

static struct text *texts;
static size_t ntexts, cap_texts;

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[64];
    size_t nn = 0;
    if (d == NULL) {
        perror(dir);
        exit(2);
    }
    while ((e = readdir(d)) != NULL && nn < 64) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".jsonl") == 0)
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < nn; i++)
        for (size_t j = i + 1; j < nn; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        if (f == NULL) {
            perror(path);
            exit(2);
        }
        while ((n = getline(&line, &cap, f)) > 0) {
            json_t *o = json_loadb(line, (size_t)n, 0, NULL);
            const json_t *t = json_object_get(o, "text"), *l = json_object_get(o, "label"),
                         *s = json_object_get(o, "source"), *k = json_object_get(o, "kind");
            if (json_is_string(t) && json_is_string(l) && json_is_string(s)) {
                if (ntexts == cap_texts) {
                    cap_texts = cap_texts ? cap_texts * 2 : 1024;
                    struct text *grown = realloc(texts, cap_texts * sizeof *texts);
                    if (grown == NULL) {
                        fprintf(stderr, "out of memory\n");
                        exit(3);
                    }
                    texts = grown;
                }
                struct text *x = &texts[ntexts++];
                x->len = json_string_length(t);
                x->s = malloc(x->len + 1);
                memcpy(x->s, json_string_value(t), x->len + 1);
                x->label = strcmp(json_string_value(l), "machine") == 0;
                snprintf(x->source, sizeof x->source, "%s", json_string_value(s));
                snprintf(x->kind, sizeof x->kind, "%s", json_is_string(k) ? json_string_value(k) : "");
            }
            json_decref(o);
        }
        free(line);
        fclose(f);
        free(names[i]);
    }
}

/* ZipPy: delta = ratio(prelude) - ratio(prelude + sample), LZMA preset 2; > 0 means AI. */
static uint8_t *lz_buf;
static size_t lz_cap;

static size_t lzma_size(const char *a, size_t alen, const char *b, size_t blen)
{
    char *in = malloc(alen + blen);
    size_t out_pos = 0, need = lzma_stream_buffer_bound(alen + blen);
    memcpy(in, a, alen);
    memcpy(in + alen, b, blen);
    if (need > lz_cap) {
        uint8_t *grown = realloc(lz_buf, need);
        if (grown == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(3);
        }
        lz_buf = grown;
        lz_cap = need;
    }
    if (lzma_easy_buffer_encode(2, LZMA_CHECK_CRC64, NULL, (const uint8_t *)in, alen + blen,
                                lz_buf, &out_pos, lz_cap) != LZMA_OK)
        out_pos = 0;
    free(in);
    return out_pos;
}

static char *prelude;
static size_t prelude_len;
static double prelude_ratio;

static char *norm_prelude;
static size_t norm_prelude_len;
static double norm_prelude_ratio;

static double delta_of(const char *pre, size_t pre_len, double pre_ratio, const char *s, size_t n)
{
    size_t len = n < 32768 ? n : 32768; /* the same cap as the detector's window */
    double combined = (double)lzma_size(pre, pre_len, s, len) / (double)(pre_len + len);
    return pre_ratio - combined;
}

static double zippy_delta(const struct text *t)
{
    return delta_of(prelude, prelude_len, prelude_ratio, t->s, t->len);
}

/* ZipPy's rule on the text as the detector sees it (case folded, digits, quotes, whitespace and
 * tokeniser spacing normalised): how much of ZipPy's margin is formatting. Texts the detector
 * refuses keep their raw delta. */
static double zippy_delta_normalised(const struct text *t)
{
    struct detector_text d;
    struct lode_error why;
    bool insufficient;
    if (detector_text_prepare(t->s, t->len, &d, &insufficient, &why) != LODE_OK)
        return zippy_delta(t);
    double v = delta_of(norm_prelude, norm_prelude_len, norm_prelude_ratio, d.buf, d.len);
    detector_text_release(&d);
    return v;
}

/* The prelude normalised as the detector normalises text, in chunks of at most 16 KB (the
 * detector scores at most DETECTOR_WINDOW_BYTES of one text). */
static void normalise_prelude(void)
{
    size_t off = 0, cap = 0;
    norm_prelude = NULL;
    norm_prelude_len = 0;
    while (off < prelude_len) {
        size_t end = off + 16384 < prelude_len ? off + 16384 : prelude_len;
        while (end < prelude_len && prelude[end] != ' ' && prelude[end] != '\n')
            end++;
        struct detector_text d;
        struct lode_error why;
        bool insufficient;
        if (detector_text_prepare(prelude + off, end - off, &d, &insufficient, &why) == LODE_OK) {
            if (norm_prelude_len + d.len + 1 > cap) { /* normalising can lengthen text */
                cap = 2 * (norm_prelude_len + d.len + 1);
                norm_prelude = realloc(norm_prelude, cap);
                if (norm_prelude == NULL) {
                    fprintf(stderr, "out of memory\n");
                    exit(3);
                }
            }
            if (norm_prelude_len > 0)
                norm_prelude[norm_prelude_len++] = ' ';
            memcpy(norm_prelude + norm_prelude_len, d.buf, d.len);
            norm_prelude_len += d.len;
            detector_text_release(&d);
        }
        off = end;
    }
    if (norm_prelude_len == 0) {
        fprintf(stderr, "the ZipPy corpus has no text the detector accepts\n");
        exit(2);
    }
    norm_prelude_ratio = (double)lzma_size(norm_prelude, norm_prelude_len, "", 0) /
                         (double)norm_prelude_len;
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

static double auroc(struct scored *v, size_t n)
{
    double pos = 0, neg = 0, rank_sum = 0;
    size_t i = 0;
    qsort(v, n, sizeof *v, cmp_scored);
    while (i < n) {
        size_t j = i;
        while (j < n && v[j].p == v[i].p)
            j++;
        for (size_t k = i; k < j; k++) {
            if (v[k].label) {
                rank_sum += (double)(i + j + 1) / 2.0;
                pos++;
            } else {
                neg++;
            }
        }
        i = j;
    }
    return pos > 0 && neg > 0 ? (rank_sum - pos * (pos + 1) / 2) / (pos * neg) : NAN;
}

static bool in_test(const struct text *t, const char *unit)
{
    if (strcmp(t->source, unit) == 0)
        return true;
    return strncmp(unit, "seqxgpt-", 8) == 0 && strcmp(t->source, "seqxgpt-human") == 0;
}

/* ---- paraphrase-like perturbations of machine text (no model: deterministic edits) ---- */

/* A small hand list of word substitutions of the kind a paraphrasing tool makes. */
static const char *const synonyms[][2] = {
    {"additionally", "also"}, {"approximately", "about"}, {"assist", "help"},
    {"attempt", "try"}, {"beneficial", "helpful"}, {"commence", "start"},
    {"crucial", "key"}, {"demonstrate", "show"}, {"enhance", "improve"},
    {"ensure", "make sure"}, {"essential", "vital"}, {"furthermore", "besides"},
    {"however", "but"}, {"important", "key"}, {"individuals", "people"},
    {"large", "big"}, {"many", "lots of"}, {"moreover", "what is more"},
    {"numerous", "many"}, {"obtain", "get"}, {"overall", "all in all"},
    {"particularly", "especially"}, {"people", "folks"}, {"provide", "give"},
    {"purchase", "buy"}, {"quickly", "fast"}, {"require", "need"}, {"said", "stated"},
    {"significant", "major"}, {"significantly", "greatly"}, {"small", "little"},
    {"therefore", "so"}, {"utilize", "use"}, {"various", "several"}, {"very", "really"},
    {"whether", "if"}, {"begin", "start"}, {"children", "kids"}, {"help", "aid"},
    {"show", "reveal"}, {"use", "employ"}, {"good", "fine"}, {"big", "huge"},
    {"often", "frequently"}, {"also", "too"}, {"because", "since"},
};

/* Appends n bytes to a growing buffer; exits on memory exhaustion. */
static void buf_put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *g = realloc(*b, c);
        if (g == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(3);
        }
        *b = g;
        *cap = c;
    }
    memcpy(*b + *len, s, n);
    *len += n;
    (*b)[*len] = '\0';
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The text with every listed word (compared ignoring case) replaced by its substitute. */
static char *swap_synonyms(const char *t, size_t len, size_t *out_len)
{
    char *b = NULL;
    size_t n = 0, cap = 0;
    buf_put(&b, &n, &cap, "", 0);
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && is_letter(t[j]))
            j++;
        if (j == i) {
            buf_put(&b, &n, &cap, t + i, 1);
            i++;
            continue;
        }
        const char *sub = NULL;
        for (size_t k = 0; k < sizeof synonyms / sizeof synonyms[0] && sub == NULL; k++)
            if (strlen(synonyms[k][0]) == j - i && strncasecmp(t + i, synonyms[k][0], j - i) == 0)
                sub = synonyms[k][1];
        if (sub != NULL)
            buf_put(&b, &n, &cap, sub, strlen(sub));
        else
            buf_put(&b, &n, &cap, t + i, j - i);
        i = j;
    }
    *out_len = n;
    return b;
}

/* The text's sentences (ending in . ! or ? and a space) in a seeded pseudo-random order. */
static char *shuffle_sentences(const char *t, size_t len, uint64_t seed, size_t *out_len)
{
    size_t starts[4096], n = 0, blen = 0, cap = 0;
    char *b = NULL;
    starts[n++] = 0;
    for (size_t i = 0; i + 1 < len && n < 4095; i++)
        if ((t[i] == '.' || t[i] == '!' || t[i] == '?') && (t[i + 1] == ' ' || t[i + 1] == '\n'))
            starts[n++] = i + 2;
    starts[n] = len + 1;
    size_t order[4096];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates with a splitmix64 stream */
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        size_t j = (size_t)(z % i), tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    buf_put(&b, &blen, &cap, "", 0);
    for (size_t k = 0; k < n; k++) {
        size_t a = starts[order[k]], e = starts[order[k] + 1] - 1;
        if (e > len)
            e = len;
        if (a >= e)
            continue;
        if (blen > 0)
            buf_put(&b, &blen, &cap, " ", 1);
        buf_put(&b, &blen, &cap, t + a, e - a);
    }
    *out_len = blen;
    return b;
}

/* ---- short texts: the first N words of long held-out texts, scored by the same models ---- */
static const size_t prefix_words[] = {50, 100, 200};
#define NPREFIX (sizeof prefix_words / sizeof prefix_words[0])
#define PREFIX_MIN_WORDS 200 /* the texts compared: at least this many words, so every prefix
                              * is a real prefix and every column has the same texts */

/* Bytes of t up to the end of its first `words` whitespace-separated words (all of t when it
 * has fewer); *total receives the number of words of t. */
static size_t prefix_bytes(const char *t, size_t len, size_t words, size_t *total)
{
    size_t n = 0, end = len;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        bool space = t[i] == ' ' || t[i] == '\n' || t[i] == '\t' || t[i] == '\r';
        if (!space && !in_word && n++ == words)
            end = i;
        in_word = !space;
    }
    *total = n;
    return n > words ? end : len;
}

static struct detector_sample *train;
/* for data like the training data: every feature learned from it, fitted by a logistic
 * regression (machine_reference_llr needs no training data and is measured separately) */
#define DETECTOR_IN_DOMAIN_DROP "machine_reference_llr"

/* DETECTOR_EVAL_DUMP=FILE: one TSV row per scored held-out text (with its features), and per
 * text scored in the in-domain runs (unit "cv0:<source>" for the equal-weights run, "cv1:..."
 * for the logistic one; no features) */
static FILE *dump;
static double l2;                   /* DETECTOR_EVAL_L2, 0: the engine's default */
static bool equal_weights = true;   /* DETECTOR_EVAL_COMBINE=logistic turns it off */
static struct scored *det, *base, *basen;
static const char *reference_path; /* detector/reference/machine-text.txt */
static char *reference_text;
static size_t reference_len;

/* A model trained on every text but unit's (fold < 0), or but those of unit's texts whose
 * index modulo IN_DOMAIN_FOLDS is fold; exits when training fails. */
#define IN_DOMAIN_FOLDS 5
static struct detector_model *train_without(const char *unit, int fold, uint32_t drop, bool eq,
                                            double l2v)
{
    struct lode_error err;
    uint8_t *model_bytes = NULL;
    size_t model_len = 0, ntrain = 0;
    struct detector_model *m = NULL;
    for (size_t i = 0; i < ntexts; i++)
        if (!in_test(&texts[i], unit) || (fold >= 0 && (int)(i % IN_DOMAIN_FOLDS) != fold))
            train[ntrain++] = (struct detector_sample){
                texts[i].s, texts[i].len, texts[i].label, texts[i].source,
                texts[i].kind[0] != '\0' ? texts[i].kind : NULL};
    struct detector_train_options opt = {1, NULL, NULL, drop, l2v, eq, reference_text,
                                         reference_len};
    if (detector_train(train, ntrain, &opt, &model_bytes, &model_len, &err) != LODE_OK ||
        detector_model_load_buffer(model_bytes, model_len, &m, &err) != LODE_OK) {
        fprintf(stderr, "could not train without %s (fold %d): %s\n", unit, fold, err.message);
        exit(3);
    }
    free(model_bytes);
    return m;
}

/* Leave-one-source-out over all units with the given dropped features; prints one table. */
static void run_loso(char units[][64], size_t nunits, uint32_t drop, bool feature_table,
                     bool perturb)
{
    struct lode_error err;
    double pert_auc[32][2], pert_tpr[32][2];
    double len_auc[32][NPREFIX + 1], len_fpr[32][NPREFIX + 1], len_tpr[32][NPREFIX + 1];
    size_t len_n[32], len_unscored[32][NPREFIX + 1];
    /* by the length of the text as it comes: human, flagged human, machine, flagged machine */
    static const size_t bucket_lo[] = {DETECTOR_MIN_WORDS, 100, 200};
#define NBUCKET (sizeof bucket_lo / sizeof bucket_lo[0])
    size_t bucket[32][NBUCKET][4];
    memset(bucket, 0, sizeof bucket);
    struct scored *pv = malloc(ntexts * sizeof *pv);
    /* each held-out text's whole-text answer, scored once, for the tables that compare with it */
    struct whole {
        bool scored; /* it got a probability */
        double p;
        enum detector_verdict verdict;
    } *whole = calloc(ntexts, sizeof *whole);
    printf("\n%-16s %6s %6s %7s | %-28s | %-37s\n", "", "", "", "", "      lode detector",
           "   ZipPy-style LZMA baseline");
    printf("%-16s %6s %6s %7s | %7s %6s %6s %6s | %7s %6s %6s %7s %8s\n", "held-out source",
           "human", "machine", "scored", "AUROC", "FPR", "TPR", "unsure", "AUROC", "FPR", "TPR",
           "TPR@FPR", "norm.AUC");
    double sum_auc[3] = {0, 0, 0}, feat_auc[32][DETECTOR_FEATURE_COUNT], unit_auc[32];
    struct scored *fs = malloc(ntexts * sizeof *fs * DETECTOR_FEATURE_COUNT);
    int n_auc = 0;
    for (size_t u = 0; u < nunits; u++) {
        size_t ndet = 0, nbase = 0, human = 0, machine = 0, fp = 0, tp = 0, bfp = 0, btp = 0,
               unsure = 0;
        struct detector_model *m = train_without(units[u], -1, drop, equal_weights, l2);
        memset(whole, 0, ntexts * sizeof *whole);
        for (size_t i = 0; i < ntexts; i++) {
            struct detector_result r;
            if (!in_test(&texts[i], units[u]))
                continue;
            if (detector_score(m, texts[i].s, texts[i].len, &r, &err) != LODE_OK)
                continue;
            whole[i] = (struct whole){r.has_probability, r.probability, r.verdict};
            if (r.verdict == DETECTOR_INSUFFICIENT)
                continue; /* too short for either method to be asked */
            human += !texts[i].label;
            machine += texts[i].label;
            basen[nbase].p = texts[i].lz_norm;
            basen[nbase].label = texts[i].label;
            base[nbase].p = texts[i].lz;
            base[nbase++].label = texts[i].label;
            bfp += !texts[i].label && texts[i].lz > 0;
            btp += texts[i].label && texts[i].lz > 0;
            fp += !texts[i].label && r.verdict == DETECTOR_SYNTHETIC;
            tp += texts[i].label && r.verdict == DETECTOR_SYNTHETIC;
            unsure += r.verdict == DETECTOR_UNCERTAIN;
            if (r.has_probability) {
                size_t k = NBUCKET - 1;
                while (k > 0 && r.words < bucket_lo[k])
                    k--;
                bucket[u][k][2 * (size_t)texts[i].label]++;
                bucket[u][k][2 * (size_t)texts[i].label + 1] += r.verdict == DETECTOR_SYNTHETIC;
            }
            if (dump != NULL && r.has_probability) {
                fprintf(dump, "%zu\t%s\t%s\t%d\t%s\t%.17g\t%.17g", i, units[u], texts[i].source,
                        texts[i].label, detector_verdict_name(r.verdict), r.probability,
                        texts[i].lz);
                for (size_t k = 0; k < DETECTOR_FEATURE_COUNT; k++)
                    fprintf(dump, "\t%.17g", r.features[k]);
                fprintf(dump, "\n");
            }
            if (r.has_probability) {
                for (size_t k = 0; k < DETECTOR_FEATURE_COUNT; k++) {
                    fs[k * ntexts + ndet].p = r.features[k];
                    fs[k * ntexts + ndet].label = texts[i].label;
                }
                det[ndet].p = r.probability;
                det[ndet++].label = texts[i].label;
            }
        }
        for (size_t k = 0; k < DETECTOR_FEATURE_COUNT; k++)
            feat_auc[u][k] = auroc(fs + k * ntexts, ndet);
        /* perturbed machine texts against the same (unperturbed) human texts */
        for (int kind = 0; perturb && kind < 2; kind++) {
            size_t npv = 0, flagged = 0, asked = 0;
            for (size_t i = 0; i < ndet; i++)
                if (!det[i].label)
                    pv[npv++] = det[i];
            for (size_t i = 0; i < ntexts; i++) {
                struct detector_result r;
                size_t plen;
                char *pt;
                if (!in_test(&texts[i], units[u]) || !texts[i].label || !whole[i].scored)
                    continue; /* the same machine texts as the main table */
                pt = kind == 0 ? swap_synonyms(texts[i].s, texts[i].len, &plen)
                               : shuffle_sentences(texts[i].s, texts[i].len, (uint64_t)i, &plen);
                if (detector_score(m, pt, plen, &r, &err) == LODE_OK) {
                    asked++;
                    flagged += r.verdict == DETECTOR_SYNTHETIC;
                    if (r.has_probability) {
                        pv[npv].p = r.probability;
                        pv[npv++].label = 1;
                    }
                }
                free(pt);
            }
            pert_auc[u][kind] = auroc(pv, npv);
            pert_tpr[u][kind] = asked ? (double)flagged / (double)asked : 0;
        }
        /* the same long texts whole and cut to their first 50, 100, 200 words */
        for (size_t L = 0; perturb && L <= NPREFIX; L++) {
            size_t npv = 0, hum = 0, mach = 0, fpc = 0, tpc = 0, n = 0, unscored = 0;
            for (size_t i = 0; i < ntexts; i++) {
                struct detector_result r;
                size_t words, cut;
                if (!in_test(&texts[i], units[u]))
                    continue;
                cut = prefix_bytes(texts[i].s, texts[i].len,
                                   L < NPREFIX ? prefix_words[L] : SIZE_MAX, &words);
                if (words < PREFIX_MIN_WORDS || !whole[i].scored)
                    continue; /* long texts that get a probability whole */
                n++;
                if (L == NPREFIX) { /* the whole text, as scored above */
                    r.has_probability = true;
                    r.probability = whole[i].p;
                    r.verdict = whole[i].verdict;
                } else if (detector_score(m, texts[i].s, cut, &r, &err) != LODE_OK ||
                           !r.has_probability) {
                    unscored++;
                    continue;
                }
                hum += !texts[i].label;
                mach += texts[i].label;
                fpc += !texts[i].label && r.verdict == DETECTOR_SYNTHETIC;
                tpc += texts[i].label && r.verdict == DETECTOR_SYNTHETIC;
                pv[npv].p = r.probability;
                pv[npv++].label = texts[i].label;
            }
            len_n[u] = n;
            len_unscored[u][L] = unscored;
            len_auc[u][L] = auroc(pv, npv);
            len_fpr[u][L] = hum ? (double)fpc / (double)hum : 0;
            len_tpr[u][L] = mach ? (double)tpc / (double)mach : 0;
        }
        double a = auroc(det, ndet), b = auroc(base, nbase), bn = auroc(basen, nbase);
        unit_auc[u] = a;
        if (!isnan(a) && !isnan(b)) {
            sum_auc[0] += a;
            sum_auc[1] += b;
            sum_auc[2] += bn;
            n_auc++;
        }
        /* the baseline's share of machine texts flagged when its threshold is moved so that it
         * flags no more human texts than the detector did (set on the test texts themselves,
         * which favours the baseline) */
        double base_t = INFINITY;
        size_t bh = 0, btp_eq = 0;
        for (size_t i = 0; i < nbase; i++)
            if (!base[i].label)
                pv[bh++].p = base[i].p;
        qsort(pv, bh, sizeof *pv, cmp_scored);
        if (fp < bh)
            base_t = pv[bh - 1 - fp].p; /* flag scores strictly above the (fp+1)-th highest */
        for (size_t i = 0; i < nbase; i++)
            btp_eq += base[i].label && base[i].p > base_t;
        printf("%-16s %6zu %6zu %7zu | %7.3f %5.1f%% %5.1f%% %5.1f%% | %7.3f %5.1f%% %5.1f%% "
               "%6.1f%% %8.3f\n",
               units[u], human, machine, ndet, a, human ? 100.0 * (double)fp / (double)human : 0,
               machine ? 100.0 * (double)tp / (double)machine : 0,
               100.0 * (double)unsure / (double)(human + machine ? human + machine : 1), b,
               human ? 100.0 * (double)bfp / (double)human : 0,
               machine ? 100.0 * (double)btp / (double)machine : 0,
               machine ? 100.0 * (double)btp_eq / (double)machine : 0, bn);
        fflush(stdout);
        detector_model_free(m);
    }
    printf("%-16s %6s %6s %7s | %7.3f %20s | %7.3f %22s %8.3f\n", "mean", "", "", "",
           sum_auc[0] / n_auc, "", sum_auc[1] / n_auc, "", sum_auc[2] / n_auc);
    printf("(FPR: human texts flagged synthetic; TPR: machine texts flagged; unsure: uncertain "
           "verdicts;\n texts with fewer than %d words are left out of both columns)\n",
           DETECTOR_MIN_WORDS);
    if (perturb) {
        double sum[2] = {0, 0};
        printf("\nperturbed machine texts (same held-out models; human texts unchanged):\n"
               "%-16s | %-22s | %-22s\n%-16s | %7s %6s %7s | %7s %6s %7s\n", "",
               "  synonym swaps", "  sentences shuffled", "held-out source", "AUROC", "TPR",
               "dAUROC", "AUROC", "TPR", "dAUROC");
        for (size_t u = 0; u < nunits; u++) {
            printf("%-16s | %7.3f %5.1f%% %+7.3f | %7.3f %5.1f%% %+7.3f\n", units[u],
                   pert_auc[u][0], 100 * pert_tpr[u][0], pert_auc[u][0] - unit_auc[u],
                   pert_auc[u][1], 100 * pert_tpr[u][1], pert_auc[u][1] - unit_auc[u]);
            sum[0] += pert_auc[u][0];
            sum[1] += pert_auc[u][1];
        }
        printf("%-16s | %7.3f %14s | %7.3f\n", "mean", sum[0] / (double)nunits, "",
               sum[1] / (double)nunits);

        double lsum[NPREFIX + 1] = {0};
        int ln = 0;
        printf("\nshort texts: held-out texts of at least %d words that get a probability whole,\n"
               "scored on their first 50, 100 and 200 words (same held-out models; AUROC FPR TPR)\n"
               "%-16s %5s | %-20s | %-20s | %-20s | %-20s\n",
               PREFIX_MIN_WORDS, "held-out source", "texts", "  first 50 words",
               "  first 100 words", "  first 200 words", "  whole text");
        for (size_t u = 0; u < nunits; u++) {
            printf("%-16s %5zu", units[u], len_n[u]);
            for (size_t L = 0; L <= NPREFIX; L++)
                printf(" | %6.3f %5.1f%% %5.1f%%", len_auc[u][L], 100 * len_fpr[u][L],
                       100 * len_tpr[u][L]);
            printf("\n");
            if (len_n[u] == 0 || isnan(len_auc[u][0]))
                continue;
            for (size_t L = 0; L <= NPREFIX; L++)
                lsum[L] += len_auc[u][L];
            ln++;
        }
        printf("%-16s %5s", "mean", "");
        for (size_t L = 0; L <= NPREFIX; L++)
            printf(" | %6.3f %13s", ln ? lsum[L] / ln : NAN, "");
        printf("\n(texts left without a probability at 50 words:");
        for (size_t u = 0; u < nunits; u++)
            printf(" %zu", len_unscored[u][0]);
        printf(")\n");

        size_t tot[NBUCKET][4];
        memset(tot, 0, sizeof tot);
        printf("\nby length as written (texts that get a probability; flagged / texts)\n"
               "%-16s | %-21s | %-21s | %-21s\n%-16s |", "", "  50-99 words", "  100-199 words",
               "  200 words or more", "held-out source");
        for (size_t k = 0; k < NBUCKET; k++)
            printf(" %10s %10s |", "human", "machine");
        printf("\n");
        for (size_t u = 0; u < nunits; u++) {
            printf("%-16s |", units[u]);
            for (size_t k = 0; k < NBUCKET; k++) {
                printf(" %4zu/%-5zu %4zu/%-5zu |", bucket[u][k][1], bucket[u][k][0],
                       bucket[u][k][3], bucket[u][k][2]);
                for (int c = 0; c < 4; c++)
                    tot[k][c] += bucket[u][k][c];
            }
            printf("\n");
        }
        printf("%-16s |", "FPR / TPR");
        for (size_t k = 0; k < NBUCKET; k++)
            printf(" %8.1f%%  %8.1f%% |", tot[k][0] ? 100.0 * (double)tot[k][1] / (double)tot[k][0] : 0,
                   tot[k][2] ? 100.0 * (double)tot[k][3] / (double)tot[k][2] : 0);
        printf("\n(SeqXGPT human texts count once per SeqXGPT generator)\n");
    }
    free(pv);
    free(whole);

    if (!feature_table) {
        free(fs);
        return;
    }
    printf("\nAUROC of each feature alone on each held-out source (> 0.5: higher value = machine;\n"
           "model-based features come from the model trained without that source)\n%-26s",
           "feature");
    for (size_t u = 0; u < nunits; u++)
        printf(" %8.8s", units[u] + (strncmp(units[u], "seqxgpt-", 8) == 0 ? 8 : 0));
    printf("\n");
    for (size_t k = 0; k < DETECTOR_FEATURE_COUNT; k++) {
        printf("%-26s", detector_feature_name(k));
        for (size_t u = 0; u < nunits; u++)
            printf(" %8.3f", feat_auc[u][k]);
        printf("\n");
    }
    free(fs);

}

/* In-domain: 5-fold cross-validation inside each source (its texts split by index; the
 * training set is every other source plus the other four folds), the setting of ZipPy's own
 * figures, whose reference corpus is drawn from the kind of text it is tested on. Prints the
 * out-of-fold AUROC per source next to the baseline's AUROC on the same texts. */
static void run_in_domain(char units[][64], size_t nunits, uint32_t drop, bool eq, double l2v,
                          const char *label)
{
    struct lode_error err;
    double sum[2] = {0, 0};
    printf("\n== in-domain, 5-fold cross-validation within each source: %s ==\n", label);
    printf("%-16s %7s | %7s %6s | %7s\n", "source", "scored", "AUROC", "FPR", "ZipPy");
    for (size_t u = 0; u < nunits; u++) {
        size_t ndet = 0, nbase = 0, human = 0, fp = 0;
        for (int k = 0; k < IN_DOMAIN_FOLDS; k++) {
            struct detector_model *m = train_without(units[u], k, drop, eq, l2v);
            for (size_t i = 0; i < ntexts; i++) {
                struct detector_result r;
                if (!in_test(&texts[i], units[u]) || (int)(i % IN_DOMAIN_FOLDS) != k)
                    continue;
                if (detector_score(m, texts[i].s, texts[i].len, &r, &err) != LODE_OK ||
                    r.verdict == DETECTOR_INSUFFICIENT)
                    continue;
                base[nbase].p = texts[i].lz;
                base[nbase++].label = texts[i].label;
                human += !texts[i].label;
                fp += !texts[i].label && r.verdict == DETECTOR_SYNTHETIC;
                if (r.has_probability) {
                    det[ndet].p = r.probability;
                    det[ndet++].label = texts[i].label;
                }
                if (dump != NULL && r.has_probability)
                    fprintf(dump, "%zu\tcv%d:%s\t%s\t%d\t%s\t%.17g\t%.17g\n", i, eq ? 0 : 1,
                            units[u], texts[i].source, texts[i].label,
                            detector_verdict_name(r.verdict), r.probability, texts[i].lz);
            }
            detector_model_free(m);
        }
        double a = auroc(det, ndet), b = auroc(base, nbase);
        sum[0] += isnan(a) ? 0.5 : a; /* a source with one class only counts as chance */
        sum[1] += isnan(b) ? 0.5 : b;
        printf("%-16s %7zu | %7.3f %5.1f%% | %7.3f\n", units[u], ndet, a,
               human ? 100.0 * (double)fp / (double)human : 0, b);
        fflush(stdout);
    }
    printf("%-16s %7s | %7.3f %6s | %7.3f\n", "mean", "", sum[0] / (double)nunits, "",
           sum[1] / (double)nunits);
}

int main(int argc, char **argv)
{
    char units[32][64];
    size_t nunits = 0;
    struct lode_error err;
    double t0;

    if (argc != 4) {
        fprintf(stderr, "usage: detector_eval JSONL_DIR ZIPPY_PRELUDE MACHINE_REFERENCE\n");
        return 2;
    }
    reference_path = argv[3];
    {
        FILE *f = fopen(reference_path, "rb");
        if (f == NULL) {
            perror(reference_path);
            return 2;
        }
        reference_text = malloc(LODE_DETECTOR_REFERENCE_BYTES_MAX + 1);
        if (reference_text == NULL) {
            fprintf(stderr, "out of memory\n");
            return 3;
        }
        reference_len = fread(reference_text, 1, LODE_DETECTOR_REFERENCE_BYTES_MAX + 1, f);
        fclose(f);
        if (reference_len > LODE_DETECTOR_REFERENCE_BYTES_MAX) {
            fprintf(stderr, "%s: larger than %u bytes\n", reference_path,
                    LODE_DETECTOR_REFERENCE_BYTES_MAX);
            return 2;
        }
    }
    load_dir(argv[1]);
    {
        FILE *f = fopen(argv[2], "rb");
        if (f == NULL) {
            perror(argv[2]);
            return 2;
        }
        prelude = malloc(1 << 20);
        prelude_len = fread(prelude, 1, 1 << 20, f);
        fclose(f);
        prelude_ratio = (double)lzma_size(prelude, prelude_len, "", 0) / (double)prelude_len;
    }
    for (size_t i = 0; i < ntexts; i++) {
        bool seen = strcmp(texts[i].source, "seqxgpt-human") == 0;
        for (size_t u = 0; u < nunits && !seen; u++)
            seen = strcmp(units[u], texts[i].source) == 0;
        if (!seen && nunits < 32)
            snprintf(units[nunits++], 64, "%s", texts[i].source);
    }
    printf("detector_eval: %zu texts, %zu held-out sources\n", ntexts, nunits);
    t0 = bench_now_s();
    /* DETECTOR_EVAL_SKIP_BASELINE=1 leaves the (slow) baseline out, for quick iterations */
    const char *skip = getenv("DETECTOR_EVAL_SKIP_BASELINE");
    for (size_t i = 0; i < ntexts; i++)
        texts[i].lz = skip != NULL && skip[0] == '1' ? 0 : zippy_delta(&texts[i]);
    double lz_time = bench_now_s() - t0;
    normalise_prelude();
    for (size_t i = 0; i < ntexts; i++)
        texts[i].lz_norm = skip != NULL && skip[0] == '1' ? 0 : zippy_delta_normalised(&texts[i]);

    train = malloc(ntexts * sizeof *train);
    det = malloc(ntexts * sizeof *det);
    base = malloc(ntexts * sizeof *base);
    basen = malloc(ntexts * sizeof *basen);
    /* DETECTOR_EVAL_DROP=names replaces the shipped drop list (for measuring feature sets);
     * DETECTOR_EVAL_QUICK=1 leaves out the all-features run */
    const char *drop_names = getenv("DETECTOR_EVAL_DROP");
    const char *quick = getenv("DETECTOR_EVAL_QUICK");
    if (drop_names == NULL)
        drop_names = DETECTOR_DEFAULT_DROP;
    uint32_t shipped_drop = drop_mask_of(drop_names);
    const char *l2s = getenv("DETECTOR_EVAL_L2");
    const char *dump_path = getenv("DETECTOR_EVAL_DUMP");
    if (dump_path != NULL && (dump = fopen(dump_path, "w")) == NULL) {
        perror(dump_path);
        return 2;
    }
    if (dump != NULL) {
        fprintf(dump, "index\tunit\tsource\tlabel\tverdict\tp\tbaseline");
        for (size_t k = 0; k < DETECTOR_FEATURE_COUNT; k++)
            fprintf(dump, "\t%s", detector_feature_name(k));
        fprintf(dump, "\n");
    }
    const char *combine = getenv("DETECTOR_EVAL_COMBINE");
    equal_weights = combine == NULL || strcmp(combine, "logistic") != 0;
    l2 = l2s != NULL ? strtod(l2s, NULL) : 0;
    printf("training: %s\n", equal_weights ? "equal weights" : "logistic regression");
    if (quick == NULL || quick[0] != '1') {
        printf("\n== all features ==");
        run_loso(units, nunits, 0, true, false);
    }
    printf("\n== shipped configuration (drops %s) ==", drop_names[0] ? drop_names : "nothing");
    run_loso(units, nunits, shipped_drop, true, true);
    /* DETECTOR_EVAL_IN_DOMAIN=0 leaves the in-domain cross-validation out */
    const char *in_domain = getenv("DETECTOR_EVAL_IN_DOMAIN");
    if (in_domain == NULL || in_domain[0] != '0') {
        run_in_domain(units, nunits, shipped_drop, equal_weights, l2, "shipped configuration");
        run_in_domain(units, nunits, drop_mask_of(DETECTOR_IN_DOMAIN_DROP), false, 0,
                      "all features but machine_reference_llr, logistic regression");
    }

    /* throughput of the full model on all texts, one thread */
    {
        uint8_t *model_bytes = NULL;
        size_t model_len = 0, bytes = 0;
        struct detector_model *m = NULL;
        double runs[3];
        for (size_t i = 0; i < ntexts; i++) {
            train[i] = (struct detector_sample){texts[i].s, texts[i].len, texts[i].label,
                                                texts[i].source,
                                                texts[i].kind[0] != '\0' ? texts[i].kind : NULL};
            bytes += texts[i].len;
        }
        struct detector_train_options opt = {1,    NULL,          NULL,          shipped_drop,
                                             l2,   equal_weights, reference_text, reference_len};
        t0 = bench_now_s();
        if (detector_train(train, ntexts, &opt, &model_bytes, &model_len, &err) != LODE_OK ||
            detector_model_load_buffer(model_bytes, model_len, &m, &err) != LODE_OK) {
            fprintf(stderr, "could not train: %s\n", err.message);
            return 3;
        }
        double train_time = bench_now_s() - t0;
        for (int k = 0; k < 3; k++) {
            t0 = bench_now_s();
            for (size_t i = 0; i < ntexts; i++) {
                struct detector_result r;
                detector_score(m, texts[i].s, texts[i].len, &r, &err);
            }
            runs[k] = bench_now_s() - t0;
        }
        qsort(runs, 3, sizeof runs[0], bench_cmp_double);
        printf("\nthroughput, one core: detector %.2f MB/s (%zu texts, %.1f MB, median of 3); "
               "LZMA baseline %.2f MB/s (one run)\n",
               (double)bytes / 1e6 / runs[1], ntexts, (double)bytes / 1e6,
               (double)bytes / 1e6 / lz_time);
        printf("training on all %zu texts: %.1f s, model %zu bytes\n", ntexts, train_time,
               model_len);
        free(model_bytes);
        detector_model_free(m);
    }
    for (size_t i = 0; i < ntexts; i++)
        free(texts[i].s);
    free(texts);
    free(train);
    free(det);
    free(base);
    free(basen);
    free(prelude);
    free(norm_prelude);
    free(reference_text);
    free(lz_buf);
    if (dump != NULL)
        fclose(dump);
    return 0;
}
