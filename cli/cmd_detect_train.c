/*
 * cli/cmd_detect_train.c — `lode detect-train`: rebuild the detector model from labelled text.
 *
 * Inputs are JSONL files of {"text": ..., "label": "human"|"machine"|0|1, "source": ...,
 * "kind": ...} ("source" optional: the file name without extension by default; "kind"
 * optional: a kind of human writing within the source, held to the false-positive target on
 * its own by the threshold rule) and/or one folder of human
 * and one of machine .txt files (--human, --machine; the source is the folder's name).
 * Training is deterministic: the same inputs in the same order and the same seed write the
 * same bytes. The provenance recorded in the model names each input by its base name with its
 * SHA-256 and text count, never by an absolute path.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/options.h"
#include "detector/detector.h"

struct corpus {
    struct detector_sample *s;
    size_t n, cap;
    char **owned; /* strings to free */
    size_t nowned, owned_cap;
};

static char *keep(struct corpus *c, char *p)
{
    if (p == NULL)
        return NULL;
    if (c->nowned == c->owned_cap) {
        size_t cap = c->owned_cap ? c->owned_cap * 2 : 256;
        char **o = realloc(c->owned, cap * sizeof *o);
        if (o == NULL) {
            free(p);
            return NULL;
        }
        c->owned = o;
        c->owned_cap = cap;
    }
    c->owned[c->nowned++] = p;
    return p;
}

static bool add_sample(struct corpus *c, char *text, size_t len, int label, char *source,
                       char *kind)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct detector_sample *s = realloc(c->s, cap * sizeof *s);
        if (s == NULL)
            return false;
        c->s = s;
        c->cap = cap;
    }
    c->s[c->n++] = (struct detector_sample){text, len, label, source, kind};
    return true;
}

static char *read_file(const char *path, size_t *len_out, size_t max)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n = 0, cap = 65536;
    if (f == NULL)
        return NULL;
    buf = malloc(cap + 1);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || n > max)
            break;
        char *b = realloc(buf, cap * 2 + 1);
        if (b == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    if (buf != NULL && (ferror(f) || n > max)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len_out = n;
    }
    return buf;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s != NULL ? s + 1 : path;
}

static void sha256_hex(const void *p, size_t n, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, p, n);
    hex_encode(h, sizeof h, hex);
}

static int parse_label(const json_t *v)
{
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return (int)json_integer_value(v);
    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "human") == 0)
            return 0;
        if (strcmp(json_string_value(v), "machine") == 0)
            return 1;
    }
    return -1;
}

static int load_jsonl(struct corpus *c, const char *path, json_t *prov)
{
    size_t len, count = 0, line_no = 0;
    char *data = keep(c, read_file(path, &len, (size_t)4 << 30));
    char hex[65], *stem, *dot;
    if (data == NULL) {
        fprintf(stderr, "lode detect-train: could not read \"%s\": %s\n", path, strerror(errno));
        return EXIT_RUNTIME;
    }
    sha256_hex(data, len, hex);
    stem = keep(c, strdup(base_name(path)));
    if (stem == NULL)
        return EXIT_RUNTIME;
    dot = strchr(stem, '.');
    if (dot != NULL)
        *dot = '\0';
    for (char *line = data; line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        size_t ll = nl != NULL ? (size_t)(nl - line) : (size_t)(data + len - line);
        struct lode_error err;
        line_no++;
        if (ll > 0 && !(ll == 1 && line[0] == '\r')) {
            json_t *o = json_body_parse(line, ll, LODE_DETECTOR_LINE_BYTES_MAX, 8, &err);
            const json_t *text = json_object_get(o, "text"), *src = json_object_get(o, "source"),
                         *kind = json_object_get(o, "kind");
            int label = parse_label(json_object_get(o, "label"));
            if (o == NULL || !json_is_string(text) || label < 0 ||
                (src != NULL && !json_is_string(src)) || (kind != NULL && !json_is_string(kind))) {
                fprintf(stderr, "lode detect-train: %s:%zu: %s\n", path, line_no,
                        o == NULL ? err.message
                                  : "need a string \"text\", a \"label\" of human, machine, 0 "
                                    "or 1, and \"source\" and \"kind\" strings when given");
                json_decref(o);
                return EXIT_USAGE;
            }
            char *t = keep(c, strndup(json_string_value(text), json_string_length(text)));
            char *s = src != NULL ? keep(c, strdup(json_string_value(src))) : stem;
            char *k = kind != NULL ? keep(c, strdup(json_string_value(kind))) : NULL;
            size_t tl = json_string_length(text);
            json_decref(o);
            if (t == NULL || s == NULL || (kind != NULL && k == NULL) ||
                !add_sample(c, t, tl, label, s, k))
                return EXIT_RUNTIME;
            count++;
        }
        line = nl != NULL ? nl + 1 : data + len;
    }
    json_array_append_new(prov, json_pack("{s:s,s:s,s:I}", "name", base_name(path), "sha256", hex,
                                          "texts", (json_int_t)count));
    return EXIT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_folder(struct corpus *c, const char *dir, int label, json_t *prov)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[65], *source;
    int rc = EXIT_OK;

    if (d == NULL) {
        fprintf(stderr, "lode detect-train: could not open folder \"%s\": %s\n", dir,
                strerror(errno));
        return EXIT_USAGE;
    }
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (nn == NULL)
                break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (names != NULL)
        qsort(names, n, sizeof *names, cmp_str);
    {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", dir);
        size_t l = strlen(tmp);
        while (l > 1 && tmp[l - 1] == '/')
            tmp[--l] = '\0';
        source = keep(c, strdup(base_name(tmp)));
    }
    crypto_hash_sha256_init(&st);
    for (size_t i = 0; i < n && rc == EXIT_OK && source != NULL; i++) {
        char path[8192];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *t = keep(c, read_file(path, &len, LODE_DETECTOR_TEXT_BYTES_MAX));
        if (t == NULL) {
            fprintf(stderr, "lode detect-train: could not read \"%s\"\n", path);
            rc = EXIT_RUNTIME;
            break;
        }
        crypto_hash_sha256_update(&st, (const unsigned char *)names[i], strlen(names[i]) + 1);
        crypto_hash_sha256_update(&st, (const unsigned char *)t, len);
        if (!add_sample(c, t, len, label, source, NULL))
            rc = EXIT_RUNTIME;
    }
    crypto_hash_sha256_final(&st, h);
    hex_encode(h, sizeof h, hex);
    if (source != NULL)
        json_array_append_new(prov, json_pack("{s:s,s:s,s:s,s:I}", "name", source, "label",
                                              label ? "machine" : "human", "sha256", hex, "texts",
                                              (json_int_t)n));
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return source == NULL ? EXIT_RUNTIME : rc;
}

/* Index of the feature named by the l bytes at name (detector_feature_name() of it is NULL when
 * there is none). */
static size_t feature_index(const char *name, size_t l)
{
    size_t k;
    for (k = 0; detector_feature_name(k) != NULL; k++)
        if (strlen(detector_feature_name(k)) == l && strncmp(name, detector_feature_name(k), l) == 0)
            break;
    return k;
}

int cmd_detect_train(int argc, char **argv)
{
    const char *out = NULL, *human = NULL, *machine = NULL, *exclude = NULL, *drop = NULL;
    const char *combine = NULL, *reference = NULL;
    char *ref_text = NULL, ref_hex[65] = "";
    size_t ref_len = 0;
    uint32_t drop_mask = 0;
    int64_t seed = 1;
    const struct option_spec options[] = {
        {"out", OPTION_STRING, &out, NULL, "model file to write (required)", 0, 0},
        {"seed", OPTION_INT, &seed, "1", "seed for folds and dictionary sampling", 0, INT64_MAX},
        {"human", OPTION_STRING, &human, NULL, "folder of human-written .txt files", 0, 0},
        {"machine", OPTION_STRING, &machine, NULL, "folder of machine-generated .txt files", 0, 0},
        {"exclude-source", OPTION_STRING, &exclude, NULL,
         "leave out the texts of this source (for evaluation)", 0, 0},
        {"drop-features", OPTION_STRING, &drop, DETECTOR_DEFAULT_DROP,
         "comma-separated features to give weight 0 (empty: use all; see docs/detector.md)", 0, 0},
        {"combine", OPTION_STRING, &combine, "equal",
         "how features are combined: equal (weights +1/-1) or logistic (L2 logistic regression)",
         0, 0},
        {"machine-reference", OPTION_STRING, &reference, NULL,
         "machine-written reference corpus (detector/reference/machine-text.txt): pieces "
         "separated by lines holding only %%; needed unless machine_reference_llr is "
         "dropped",
         0, 0},
        {0},
    };
    const struct command_spec spec = {
        "detect-train", "Train the synthetic-text detector model from labelled texts.",
        "Each INPUT is a JSONL file of {\"text\", \"label\"} objects (label human/machine or\n"
        "0/1, optional \"source\"). Same inputs and seed give a byte-identical model.",
        options, "INPUT.jsonl..."};
    struct corpus c = {0};
    int first = 0, rc = EXIT_OK;
    json_t *prov;
    uint8_t *model = NULL;
    size_t model_len = 0;
    struct lode_error err;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (out == NULL || (first >= argc && human == NULL && machine == NULL)) {
        fprintf(stderr, "lode detect-train: --out and at least one input are required\n");
        return EXIT_USAGE;
    }
    if (strcmp(combine, "equal") != 0 && strcmp(combine, "logistic") != 0) {
        fprintf(stderr, "lode detect-train: --combine must be equal or logistic\n");
        return EXIT_USAGE;
    }
    for (const char *p = drop; p != NULL && *p != '\0';) {
        size_t l = strcspn(p, ","), k = feature_index(p, l);
        if (detector_feature_name(k) == NULL) {
            fprintf(stderr, "lode detect-train: unknown feature \"%.*s\"\n", (int)l, p);
            return EXIT_USAGE;
        }
        drop_mask |= 1u << k;
        p += l + (p[l] == ',');
    }
    if (sodium_init() < 0)
        return EXIT_RUNTIME;
    if (reference != NULL) {
        errno = 0;
        ref_text = read_file(reference, &ref_len, LODE_DETECTOR_REFERENCE_BYTES_MAX);
        if (ref_text == NULL) {
            fprintf(stderr, "lode detect-train: could not read \"%s\": %s\n", reference,
                    errno != 0 ? strerror(errno) : "larger than the limit");
            return EXIT_RUNTIME;
        }
        sha256_hex(ref_text, ref_len, ref_hex);
    }
    prov = json_array();
    for (int i = first; i < argc && rc == EXIT_OK; i++)
        rc = load_jsonl(&c, argv[i], prov);
    if (rc == EXIT_OK && human != NULL)
        rc = load_folder(&c, human, 0, prov);
    if (rc == EXIT_OK && machine != NULL)
        rc = load_folder(&c, machine, 1, prov);
    if (rc == EXIT_OK) {
        json_t *p = json_pack("{s:s,s:I,s:s?,s:s,s:s?,s:o}", "command", "lode detect-train",
                              "seed", (json_int_t)seed, "drop_features", drop, "combine", combine,
                              "exclude_source", exclude, "inputs", prov);
        if (reference != NULL && (drop_mask & 1u << feature_index("machine_reference_llr", strlen("machine_reference_llr"))))
            fprintf(stderr, "lode detect-train: machine_reference_llr is dropped: the reference "
                            "corpus is not used\n");
        else if (reference != NULL)
            json_object_set_new(p, "machine_reference",
                                json_pack("{s:s,s:s}", "name", base_name(reference), "sha256",
                                          ref_hex));
        char *ptext = json_dumps(p, JSON_SORT_KEYS | JSON_COMPACT);
        struct detector_train_options opt = {(uint64_t)seed, ptext, exclude, drop_mask, 0,
                                             strcmp(combine, "equal") == 0, ref_text, ref_len};
        json_decref(p);
        prov = NULL;
        if (detector_train(c.s, c.n, &opt, &model, &model_len, &err) != LODE_OK) {
            fprintf(stderr, "lode detect-train: could not train: %s\n", err.message);
            rc = err.code == LODE_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
        }
        free(ptext);
    }
    json_decref(prov);
    if (rc == EXIT_OK) {
        char tmp[8192];
        snprintf(tmp, sizeof tmp, "%s.tmp", out);
        FILE *f = fopen(tmp, "wb");
        if (f == NULL || fwrite(model, 1, model_len, f) != model_len || fclose(f) != 0 ||
            rename(tmp, out) != 0) {
            fprintf(stderr, "lode detect-train: could not write \"%s\": %s\n", out,
                    strerror(errno));
            rc = EXIT_RUNTIME;
        } else {
            fprintf(stderr, "lode detect-train: wrote %s (%zu bytes, %zu texts)\n", out,
                    model_len, c.n);
        }
    }
    free(model);
    free(ref_text);
    for (size_t i = 0; i < c.nowned; i++)
        free(c.owned[i]);
    free(c.owned);
    free(c.s);
    return rc;
}
