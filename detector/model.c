/*
 * detector/model.c — the model file format: writing, strict loading, locating the shipped file.
 *
 * Layout (all integers little-endian):
 *   "LODEDTM\n"  8-byte magic
 *   u32 version (DETECTOR_FORMAT_VERSION), u32 section count
 *   sections: 4-byte tag, u32 payload length, payload
 *     META  JSON: features (name, mean, scale, weight), bias, Platt a/b, thresholds,
 *           parameters, training provenance and figures, reference texts and their scores
 *     DICH  zstd raw-content dictionary of human text      DICM  the same of machine text
 *           (both empty when zstd_cross_entropy has weight 0)
 *     CHAR  2^18 int16 char 4-gram log-likelihood ratios  WORD  the same for word 1+2-grams
 *           (each empty when its feature has weight 0)
 *     BGCH  2^18 int16 char 4-gram surprisal (bits) under the pooled corpus  BGWD  words
 *     RKWD  2^18 int16 rank class (0..3) of each word bucket in the human word-frequency table
 *     REFM  normalised machine-written reference corpus (empty when machine_reference_llr has
 *           weight 0); its character model is counted when the file is loaded
 *     BGLM  2^18 float32 weighted counts of character 1..3-grams of the human training text
 *           (the background character model of machine_reference_llr; empty when unused)
 *   32-byte BLAKE2b-256 of every byte before it
 * Every section must appear exactly once; anything else is refused.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/json.h"
#include "core/limits.h"
#include "detector/internal.h"

#define MAGIC "LODEDTM\n"
#define HEADER_BYTES 16
#define SECTION_HEADER_BYTES 8
#define CHECKSUM_BYTES 32
#define TABLE_ENTRIES ((size_t)1 << DETECTOR_TABLE_BITS)
#define META_BYTES_MAX (1u << 20)
#define REFERENCE_TEXT_BYTES_MAX 4096
#define NSECTIONS 10

static const char *const feature_names[DETECTOR_FEATURE_COUNT] = {
    "zstd_cross_entropy", "char_ngrams",  "word_ngrams", "sentence_length_variation",
    "sentence_length",    "mattr",        "word_length", "comma_rate",
    "semicolon_colon_rate", "parenthesis_rate", "question_exclamation_rate",
    "function_word_rate", "char_surprisal", "word_surprisal", "word_surprisal_spread",
    "rank_top10", "rank_top100", "rank_top1000", "sentence_surprisal_spread",
    "word_trigram_repeat", "machine_reference_llr", "assistant_vocabulary",
};

const char *detector_feature_name(size_t i)
{
    return i < DETECTOR_FEATURE_COUNT ? feature_names[i] : NULL;
}

const char *detector_verdict_name(enum detector_verdict v)
{
    switch (v) {
    case DETECTOR_HUMAN: return "human";
    case DETECTOR_SYNTHETIC: return "synthetic";
    case DETECTOR_UNCERTAIN: return "uncertain";
    case DETECTOR_INSUFFICIENT: return "insufficient";
    }
    return "uncertain";
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum lode_code detector_model_write(const char *meta_json, const struct detector_dicts *dicts,
                                    const int16_t *const tables[5], const float *bg_counts,
                                    uint8_t **out, size_t *len_out, struct lode_error *err)
{
    size_t meta_len = strlen(meta_json), table_bytes = TABLE_ENTRIES * 2;
    const struct {
        const char *tag;
        const uint8_t *data;
        size_t len;
        const int16_t *table;
    } sec[] = {
        {"META", (const uint8_t *)meta_json, meta_len, NULL},
        {"DICH", dicts->human, dicts->human_len, NULL},
        {"DICM", dicts->machine, dicts->machine_len, NULL},
        {"CHAR", NULL, tables[0] != NULL ? table_bytes : 0, tables[0]},
        {"WORD", NULL, tables[1] != NULL ? table_bytes : 0, tables[1]},
        {"BGCH", NULL, table_bytes, tables[2]},
        {"BGWD", NULL, table_bytes, tables[3]},
        {"RKWD", NULL, table_bytes, tables[4]},
        {"REFM", dicts->reference, dicts->reference_len, NULL},
        {"BGLM", (const uint8_t *)bg_counts, bg_counts != NULL ? TABLE_ENTRIES * 4 : 0, NULL},
    };
    size_t nsec = sizeof sec / sizeof sec[0], total = HEADER_BYTES + CHECKSUM_BYTES, off;
    uint8_t *buf;

    if (meta_len > META_BYTES_MAX || dicts->human_len > DETECTOR_DICT_BYTES_MAX ||
        dicts->machine_len > DETECTOR_DICT_BYTES_MAX ||
        dicts->reference_len > DETECTOR_DICT_BYTES_MAX)
        return lode_error_set(err, LODE_EINVAL, "could not write the model: a section is too big");
    for (size_t i = 0; i < nsec; i++)
        total += SECTION_HEADER_BYTES + sec[i].len;
    buf = malloc(total);
    if (buf == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the model file");
    memcpy(buf, MAGIC, 8);
    put_u32(buf + 8, DETECTOR_FORMAT_VERSION);
    put_u32(buf + 12, (uint32_t)nsec);
    off = HEADER_BYTES;
    for (size_t i = 0; i < nsec; i++) {
        memcpy(buf + off, sec[i].tag, 4);
        put_u32(buf + off + 4, (uint32_t)sec[i].len);
        off += SECTION_HEADER_BYTES;
        if (sec[i].table != NULL) {
            for (size_t k = 0; k < TABLE_ENTRIES; k++) {
                uint16_t v = (uint16_t)sec[i].table[k];
                buf[off + 2 * k] = (uint8_t)v;
                buf[off + 2 * k + 1] = (uint8_t)(v >> 8);
            }
        } else if (bg_counts != NULL && sec[i].data == (const uint8_t *)bg_counts) {
            for (size_t k = 0; k < TABLE_ENTRIES; k++) {
                uint32_t v;
                memcpy(&v, &bg_counts[k], 4);
                put_u32(buf + off + 4 * k, v);
            }
        } else if (sec[i].len > 0) {
            memcpy(buf + off, sec[i].data, sec[i].len);
        }
        off += sec[i].len;
    }
    if (sodium_init() < 0) {
        free(buf);
        return lode_error_set(err, LODE_EINTERNAL, "could not initialise libsodium");
    }
    crypto_generichash(buf + off, CHECKSUM_BYTES, buf, off, NULL, 0);
    *out = buf;
    *len_out = total;
    return LODE_OK;
}

void detector_model_free(struct detector_model *m)
{
    if (m == NULL)
        return;
    ZSTD_freeCDict(m->cdict_human);
    ZSTD_freeCDict(m->cdict_machine);
    free(m->ref_counts);
    free(m->bg_counts);
    free(m->char_llr);
    free(m->word_llr);
    free(m->char_bg);
    free(m->word_bg);
    free(m->word_rank);
    for (size_t i = 0; i < m->nref; i++)
        free(m->ref_text[i]);
    free(m->file);
    free(m);
}

static enum lode_code bad(struct lode_error *err, const char *what)
{
    return lode_error_set(err, LODE_EINVAL, "could not load the detector model: %s", what);
}

static bool get_number(const json_t *obj, const char *name, double *out)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || !json_is_number(v))
        return false;
    *out = json_number_value(v);
    return isfinite(*out);
}

static bool verdict_from_name(const char *s, enum detector_verdict *out)
{
    for (int v = DETECTOR_HUMAN; v <= DETECTOR_INSUFFICIENT; v++)
        if (strcmp(s, detector_verdict_name((enum detector_verdict)v)) == 0) {
            *out = (enum detector_verdict)v;
            return true;
        }
    return false;
}

static enum lode_code parse_meta(struct detector_model *m, const uint8_t *p, size_t len,
                                 struct lode_error *err)
{
    struct lode_error jerr;
    json_t *root = json_body_parse((const char *)p, len, META_BYTES_MAX, 8, &jerr);
    const json_t *features, *refs, *params;
    enum lode_code rc = LODE_EINVAL;
    double v;

    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return bad(err, "metadata is not a JSON object");
    }
    params = json_object_get(root, "parameters");
    features = json_object_get(root, "features");
    refs = json_object_get(root, "reference");
    if (!json_is_object(params) || !json_is_array(features) || !json_is_array(refs)) {
        bad(err, "metadata lacks parameters, features or reference");
        goto out;
    }
    if (!get_number(params, "table_bits", &v) || v != DETECTOR_TABLE_BITS ||
        !get_number(params, "char_n", &v) || v != DETECTOR_CHAR_N ||
        !get_number(params, "window_bytes", &v) || v != DETECTOR_WINDOW_BYTES ||
        !get_number(params, "min_words", &v) || v != DETECTOR_MIN_WORDS ||
        !get_number(params, "zstd_level", &v) || v != DETECTOR_ZSTD_LEVEL ||
        !get_number(params, "reference_window_bytes", &v) || v != DETECTOR_REF_WINDOW ||
        !get_number(params, "lm_order", &v) || v != DETECTOR_LM_ORDER) {
        bad(err, "model parameters do not match this engine");
        goto out;
    }
    if (json_array_size(features) != DETECTOR_FEATURE_COUNT) {
        bad(err, "wrong number of features");
        goto out;
    }
    for (size_t i = 0; i < DETECTOR_FEATURE_COUNT; i++) {
        const json_t *f = json_array_get(features, i);
        const json_t *name = json_object_get(f, "name");
        if (!json_is_string(name) || strcmp(json_string_value(name), feature_names[i]) != 0 ||
            !get_number(f, "mean", &m->mean[i]) || !get_number(f, "scale", &m->scale[i]) ||
            !get_number(f, "weight", &m->weight[i]) || !(m->scale[i] > 1e-12) ||
            fabs(m->weight[i]) > 1e6 || fabs(m->mean[i]) > 1e6 || m->scale[i] > 1e6) {
            bad(err, "a feature entry is missing, out of order or out of range");
            goto out;
        }
    }
    if (!get_number(root, "bias", &m->bias) || !get_number(root, "platt_a", &m->platt_a) ||
        !get_number(root, "platt_b", &m->platt_b) ||
        !get_number(root, "threshold_synthetic", &m->threshold_synthetic) ||
        !get_number(root, "threshold_human", &m->threshold_human) ||
        !get_number(root, "ood_z_max", &m->ood_z_max) ||
        !get_number(root, "background_characters", &m->bg_total) || !(m->bg_total >= 0) ||
        m->bg_total > 1e12 || fabs(m->bias) > 1e6 ||
        fabs(m->platt_a) > 1e6 || fabs(m->platt_b) > 1e6 || !(m->threshold_human >= 0) ||
        !(m->threshold_human <= m->threshold_synthetic) || !(m->threshold_synthetic <= 1) ||
        !(m->ood_z_max > 0)) {
        bad(err, "bias, calibration or thresholds missing or out of range");
        goto out;
    }
    /* models trained before the short-text threshold existed use one threshold for all */
    m->threshold_synthetic_short = m->threshold_synthetic;
    if (json_object_get(root, "threshold_synthetic_short") != NULL &&
        (!get_number(root, "threshold_synthetic_short", &m->threshold_synthetic_short) ||
         !(m->threshold_synthetic_short >= m->threshold_synthetic) ||
         !(m->threshold_synthetic_short <= 1))) {
        bad(err, "the short-text threshold is out of range");
        goto out;
    }
    if (json_array_size(refs) > DETECTOR_REFERENCE_MAX) {
        bad(err, "too many reference texts");
        goto out;
    }
    for (size_t i = 0; i < json_array_size(refs); i++) {
        const json_t *r = json_array_get(refs, i);
        const json_t *text = json_object_get(r, "text"), *verdict = json_object_get(r, "verdict");
        double prob;
        if (!json_is_string(text) || json_string_length(text) > REFERENCE_TEXT_BYTES_MAX ||
            !json_is_string(verdict) || !get_number(r, "probability", &prob) || prob < 0 || prob > 1 ||
            !verdict_from_name(json_string_value(verdict), &m->ref_verdict[i])) {
            bad(err, "a reference entry is malformed");
            goto out;
        }
        m->ref_text[i] = strndup(json_string_value(text), json_string_length(text));
        if (m->ref_text[i] == NULL) {
            rc = lode_error_set(err, LODE_ENOMEM, "could not allocate a reference text");
            goto out;
        }
        m->ref_p[i] = prob;
        m->nref = i + 1;
    }
    rc = LODE_OK;
out:
    json_decref(root);
    return rc;
}

static void lm_add(uint32_t bucket, void *ctx)
{
    ((double *)ctx)[bucket] += 1;
}

static int16_t *load_table(const uint8_t *p)
{
    int16_t *t = malloc(TABLE_ENTRIES * sizeof *t);
    if (t == NULL)
        return NULL;
    for (size_t k = 0; k < TABLE_ENTRIES; k++)
        t[k] = (int16_t)(uint16_t)(p[2 * k] | p[2 * k + 1] << 8);
    return t;
}

enum lode_code detector_model_load_buffer(const uint8_t *buf, size_t len,
                                          struct detector_model **model_out,
                                          struct lode_error *err)
{
    static const char *const tags[NSECTIONS] = {"META", "DICH", "DICM", "CHAR", "WORD",
                                                "BGCH", "BGWD", "RKWD", "REFM", "BGLM"};
    const uint8_t *sec[NSECTIONS] = {0};
    size_t sec_len[NSECTIONS] = {0}, off, end, nsec;
    uint8_t sum[CHECKSUM_BYTES];
    struct detector_model *m;
    enum lode_code rc;

    *model_out = NULL;
    if (len > LODE_DETECTOR_MODEL_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "detector model is larger than %u bytes",
                              LODE_DETECTOR_MODEL_BYTES_MAX);
    if (len < HEADER_BYTES + CHECKSUM_BYTES || memcmp(buf, MAGIC, 8) != 0)
        return bad(err, "not a detector model file");
    if (get_u32(buf + 8) != DETECTOR_FORMAT_VERSION)
        return bad(err, "unsupported format version");
    if (sodium_init() < 0)
        return lode_error_set(err, LODE_EINTERNAL, "could not initialise libsodium");
    end = len - CHECKSUM_BYTES;
    crypto_generichash(sum, sizeof sum, buf, end, NULL, 0);
    if (sodium_memcmp(sum, buf + end, CHECKSUM_BYTES) != 0)
        return bad(err, "checksum mismatch (file damaged)");
    nsec = get_u32(buf + 12);
    if (nsec != NSECTIONS)
        return bad(err, "wrong number of sections");
    off = HEADER_BYTES;
    for (size_t i = 0; i < nsec; i++) {
        size_t slen, k;
        if (end - off < SECTION_HEADER_BYTES)
            return bad(err, "truncated section header");
        slen = get_u32(buf + off + 4);
        for (k = 0; k < NSECTIONS && memcmp(buf + off, tags[k], 4) != 0; k++)
            ;
        if (k == NSECTIONS || sec[k] != NULL)
            return bad(err, "unknown or repeated section");
        off += SECTION_HEADER_BYTES;
        if (slen > end - off)
            return bad(err, "section runs past the end of the file");
        sec[k] = buf + off;
        sec_len[k] = slen;
        off += slen;
    }
    if (off != end)
        return bad(err, "trailing bytes after the sections");
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the model");
    m->file = malloc(len);
    if (m->file == NULL) {
        free(m);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the model");
    }
    memcpy(m->file, buf, len);
    m->file_len = len;
    rc = parse_meta(m, sec[0], sec_len[0], err);
    /* the likelihood-ratio tables may be empty when their feature has weight 0 */
    for (size_t k = 3; rc == LODE_OK && k < 8; k++)
        if (sec_len[k] != TABLE_ENTRIES * 2 &&
            !(sec_len[k] == 0 && ((k == 3 && m->weight[FEAT_CHAR_NGRAM] == 0) ||
                                  (k == 4 && m->weight[FEAT_WORD_NGRAM] == 0))))
            rc = bad(err, "n-gram table has the wrong size");
    /* a dictionary may be empty only when the feature that uses it has weight 0 */
    if (rc == LODE_OK && (sec_len[1] > DETECTOR_DICT_BYTES_MAX ||
                          sec_len[2] > DETECTOR_DICT_BYTES_MAX ||
                          sec_len[8] > DETECTOR_DICT_BYTES_MAX))
        rc = bad(err, "dictionary too big");
    if (rc == LODE_OK && m->weight[FEAT_ZSTD_XENT] != 0 && (sec_len[1] == 0 || sec_len[2] == 0))
        rc = bad(err, "zstd_cross_entropy is used but a training-text dictionary is missing");
    if (rc == LODE_OK && m->weight[FEAT_REF_LLR] != 0 && sec_len[8] == 0)
        rc = bad(err, "machine_reference_llr is used but the reference corpus is missing");
    if (rc == LODE_OK && sec_len[9] != TABLE_ENTRIES * 4 &&
        (sec_len[9] != 0 || m->weight[FEAT_REF_LLR] != 0))
        rc = bad(err, "background character model has the wrong size");
    if (rc != LODE_OK) {
        detector_model_free(m);
        return rc;
    }
    m->cdict_human = sec_len[1] > 0 ? detector_cdict_create(m->file + (sec[1] - buf), sec_len[1])
                                    : NULL;
    m->cdict_machine =
        sec_len[2] > 0 ? detector_cdict_create(m->file + (sec[2] - buf), sec_len[2]) : NULL;
    bool lm = m->weight[FEAT_REF_LLR] != 0; /* the character models only when used */
    m->ref_counts = lm ? calloc(TABLE_ENTRIES, sizeof(double)) : NULL;
    m->bg_counts = lm ? calloc(TABLE_ENTRIES, sizeof(double)) : NULL;
    m->char_llr = sec_len[3] > 0 ? load_table(sec[3]) : NULL;
    m->word_llr = sec_len[4] > 0 ? load_table(sec[4]) : NULL;
    m->char_bg = load_table(sec[5]);
    m->word_bg = load_table(sec[6]);
    m->word_rank = load_table(sec[7]);
    if ((sec_len[1] > 0 && m->cdict_human == NULL) || (sec_len[2] > 0 && m->cdict_machine == NULL) ||
        (lm && (m->ref_counts == NULL || m->bg_counts == NULL)) ||
        (sec_len[3] > 0 && m->char_llr == NULL) || (sec_len[4] > 0 && m->word_llr == NULL) ||
        m->char_bg == NULL || m->word_bg == NULL ||
        m->word_rank == NULL) {
        detector_model_free(m);
        return lode_error_set(err, LODE_ENOMEM, "could not build the model's dictionaries");
    }
    for (size_t k = 0; sec_len[9] > 0 && k < TABLE_ENTRIES; k++) {
        uint32_t v = get_u32(sec[9] + 4 * k);
        float c;
        memcpy(&c, &v, 4);
        if (!isfinite(c) || c < 0 || c > 1e12f) {
            detector_model_free(m);
            return bad(err, "background character model holds a count out of range");
        }
        if (lm)
            m->bg_counts[k] = c;
    }
    if (lm) {
        if (!(m->bg_total > 0)) {
            detector_model_free(m);
            return bad(err, "machine_reference_llr is used but the background model is empty");
        }
        detector_lm_grams((const char *)sec[8], sec_len[8], lm_add, m->ref_counts);
        m->ref_lm = (struct detector_lm){m->ref_counts, NULL, (double)sec_len[8]};
        m->bg_lm = (struct detector_lm){m->bg_counts, NULL, m->bg_total};
    }
    for (size_t k = 0; k < TABLE_ENTRIES; k++)
        if (m->word_rank[k] < 0 || m->word_rank[k] >= DETECTOR_RANK_CLASSES) {
            detector_model_free(m);
            return bad(err, "word rank table holds a class out of range");
        }
    {
        char hex[17];
        for (int i = 0; i < 8; i++)
            snprintf(hex + 2 * i, 3, "%02x", buf[end + i]);
        snprintf(m->version, sizeof m->version, "lode-detector/%d/%s", DETECTOR_FORMAT_VERSION,
                 hex);
    }
    *model_out = m;
    return LODE_OK;
}

enum lode_code detector_model_load(const char *path, struct detector_model **model_out,
                                   struct lode_error *err)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t n;
    enum lode_code rc;

    *model_out = NULL;
    if (f == NULL)
        return lode_error_set(err, LODE_EIO, "could not open detector model \"%s\": %s", path,
                              strerror(errno));
    buf = malloc(LODE_DETECTOR_MODEL_BYTES_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the model buffer");
    }
    n = fread(buf, 1, LODE_DETECTOR_MODEL_BYTES_MAX + 1, f);
    if (ferror(f)) {
        fclose(f);
        free(buf);
        return lode_error_set(err, LODE_EIO, "could not read detector model \"%s\"", path);
    }
    fclose(f);
    rc = detector_model_load_buffer(buf, n, model_out, err);
    free(buf);
    return rc;
}

static bool readable(const char *path)
{
    return access(path, R_OK) == 0;
}

enum lode_code detector_model_locate(const char *override, char *path_out, size_t path_cap,
                                     struct lode_error *err)
{
    char exe[PATH_MAX], dir[PATH_MAX], cand[PATH_MAX + 64];
    ssize_t n;

    if (override != NULL && override[0] != '\0') {
        if (snprintf(path_out, path_cap, "%s", override) >= (int)path_cap)
            return lode_error_set(err, LODE_EINVAL, "detector model path is too long");
        return LODE_OK;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return lode_error_set(err, LODE_ENOTFOUND,
                              "could not find the detector model: set LODE_DETECTOR_MODEL");
    exe[n] = '\0';
    snprintf(dir, sizeof dir, "%s", exe);
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        snprintf(cand, sizeof cand, "%s/detector/models/%s", dir, DETECTOR_MODEL_FILE);
        if (!readable(cand))
            snprintf(cand, sizeof cand, "%s/share/lode/%s", dir, DETECTOR_MODEL_FILE);
        if (readable(cand)) {
            if (snprintf(path_out, path_cap, "%s", cand) >= (int)path_cap)
                return lode_error_set(err, LODE_EINVAL, "detector model path is too long");
            return LODE_OK;
        }
    }
    return lode_error_set(err, LODE_ENOTFOUND,
                          "could not find the detector model beside the binary: set "
                          "LODE_DETECTOR_MODEL");
}

const char *detector_model_version(const struct detector_model *m)
{
    return m->version;
}

double detector_model_threshold_synthetic(const struct detector_model *m)
{
    return m->threshold_synthetic;
}

double detector_model_threshold_synthetic_short(const struct detector_model *m)
{
    return m->threshold_synthetic_short;
}

double detector_model_threshold_human(const struct detector_model *m)
{
    return m->threshold_human;
}

size_t detector_model_reference_count(const struct detector_model *m)
{
    return m->nref;
}

bool detector_model_reference(const struct detector_model *m, size_t i, const char **text_out,
                              double *probability_out, enum detector_verdict *verdict_out)
{
    if (i >= m->nref)
        return false;
    *text_out = m->ref_text[i];
    *probability_out = m->ref_p[i];
    *verdict_out = m->ref_verdict[i];
    return true;
}
