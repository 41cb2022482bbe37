/*
 * tests/unit/labeling/crowd_sets.c — readers for the crowd reference sets (see crowd_sets.h).
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crowd_sets.h"

/* A name table: open addressing over owned copies of the names. */
struct names {
    char **name;
    uint32_t *slot; /* id + 1, 0 = empty */
    size_t cap, count;
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint32_t names_id(struct names *t, const char *s, size_t n)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        uint32_t *slot = calloc(cap, sizeof *slot);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                const char *k = t->name[t->slot[i] - 1];
                size_t j = fnv(k, strlen(k)) & (cap - 1);
                while (slot[j])
                    j = (j + 1) & (cap - 1);
                slot[j] = t->slot[i];
            }
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
        t->name = realloc(t->name, cap * sizeof *t->name);
    }
    size_t j = fnv(s, n) & (t->cap - 1);
    while (t->slot[j]) {
        const char *k = t->name[t->slot[j] - 1];
        if (strlen(k) == n && memcmp(k, s, n) == 0)
            return t->slot[j] - 1;
        j = (j + 1) & (t->cap - 1);
    }
    char *copy = malloc(n + 1);
    memcpy(copy, s, n);
    copy[n] = 0;
    t->name[t->count] = copy;
    t->slot[j] = (uint32_t)++t->count;
    return (uint32_t)(t->count - 1);
}

static void names_free(struct names *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->name[i]);
    free(t->name);
    free(t->slot);
}

struct builder {
    struct names items, workers, labels;
    struct labeling_answer *a;
    double *value;
    size_t n, cap;
    uint32_t *gold;
    double *gold_value;
    size_t gold_cap;
};

static void set_gold(struct builder *b, uint32_t item, const char *g, size_t gn)
{
    if (item >= b->gold_cap) {
        size_t cap = b->gold_cap ? b->gold_cap : 256;
        while (cap <= item)
            cap *= 2;
        b->gold = realloc(b->gold, cap * sizeof *b->gold);
        b->gold_value = realloc(b->gold_value, cap * sizeof *b->gold_value);
        for (size_t i = b->gold_cap; i < cap; i++) {
            b->gold[i] = LABELING_NONE;
            b->gold_value[i] = NAN;
        }
        b->gold_cap = cap;
    }
    if (g == NULL)
        return;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(gn < 63 ? gn : 63), g);
    b->gold[item] = names_id(&b->labels, g, gn);
    char *end;
    double v = strtod(buf, &end);
    b->gold_value[item] = end != buf ? v : NAN;
}

static void add(struct builder *b, const char *item, size_t in, const char *worker, size_t wn,
                const char *label, size_t ln, const char *gold, size_t gn)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        b->a = realloc(b->a, b->cap * sizeof *b->a);
        b->value = realloc(b->value, b->cap * sizeof *b->value);
    }
    struct labeling_answer *x = &b->a[b->n];
    x->item = names_id(&b->items, item, in);
    x->worker = names_id(&b->workers, worker, wn);
    x->label = names_id(&b->labels, label, ln);
    char buf[64], *end;
    snprintf(buf, sizeof buf, "%.*s", (int)(ln < 63 ? ln : 63), label);
    double v = strtod(buf, &end);
    b->value[b->n] = end != buf ? v : NAN;
    b->n++;
    set_gold(b, x->item, gold, gn);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* Splits a line into up to max fields at sep; returns the field count. */
static int split(char *line, char sep, char **f, size_t *fl, int max)
{
    int n = 0;
    char *s = line;
    while (n < max) {
        char *e = strchr(s, sep);
        f[n] = s;
        fl[n] = e ? (size_t)(e - s) : strlen(s);
        n++;
        if (e == NULL)
            break;
        s = e + 1;
    }
    return n;
}

static int load_lines(struct builder *b, const char *path, char sep, int skip_header, int iw,
                      int ii, int il, int ig)
{
    size_t len;
    char *buf = slurp(path, &len), *save = NULL;
    if (buf == NULL)
        return -1;
    int line = 0;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *f[8];
        size_t fl[8];
        size_t ll = strlen(l);
        if (ll && l[ll - 1] == '\r')
            l[ll - 1] = 0;
        if (line++ < skip_header || *l == 0)
            continue;
        int n = split(l, sep, f, fl, 8);
        if (n <= ig || n <= il || n <= ii || n <= iw) {
            fprintf(stderr, "%s:%d: too few fields\n", path, line);
            free(buf);
            return -1;
        }
        add(b, f[ii], fl[ii], f[iw], fl[iw], f[il], fl[il], f[ig], fl[ig]);
    }
    free(buf);
    return 0;
}

/* Flow-style YAML map of maps: "key: {k: v, k: v}" lines (labels.yaml) or one "{k: v}" (gt). */
static int load_yaml_map(const char *path, void (*emit)(void *, const char *outer, size_t on,
                                                        const char *k, size_t kn, const char *v,
                                                        size_t vn),
                         void *ctx)
{
    size_t len;
    char *buf = slurp(path, &len);
    if (buf == NULL)
        return -1;
    const char *s = buf, *outer = "", *end = buf + len;
    size_t on = 0;
    int depth = 0;
    while (s < end) {
        while (s < end && (isspace((unsigned char)*s) || *s == ','))
            s++;
        if (s >= end)
            break;
        if (*s == '{') {
            depth++;
            s++;
            continue;
        }
        if (*s == '}') {
            depth--;
            s++;
            continue;
        }
        const char *k = s;
        while (s < end && *s != ':' && *s != ',' && *s != '}')
            s++;
        size_t kn = (size_t)(s - k);
        if (s >= end || *s != ':') {
            free(buf);
            return -1;
        }
        s++;
        while (s < end && *s == ' ')
            s++;
        if (s < end && *s == '{' && depth == 0) {
            outer = k;
            on = kn;
            continue;
        }
        const char *v = s;
        while (s < end && *s != ',' && *s != '}' && !isspace((unsigned char)*s))
            s++;
        emit(ctx, outer, on, k, kn, v, (size_t)(s - v));
    }
    free(buf);
    return 0;
}

struct gt_pair {
    struct names keys;
    char vals[4096][8];
};

static void emit_gt(void *ctx, const char *o, size_t on, const char *k, size_t kn, const char *v,
                    size_t vn)
{
    struct gt_pair *g = ctx;
    uint32_t id = names_id(&g->keys, k, kn);
    if (id < 4096)
        snprintf(g->vals[id], sizeof g->vals[id], "%.*s", (int)(vn < 7 ? vn : 7), v);
}

struct bb_ctx {
    struct builder *b;
    struct gt_pair *gt;
};

static void emit_label(void *ctx, const char *o, size_t on, const char *k, size_t kn,
                       const char *v, size_t vn)
{
    struct bb_ctx *c = ctx;
    const char *g = NULL;
    size_t gn = 0;
    for (size_t i = 0; i < c->gt->keys.count; i++)
        if (strlen(c->gt->keys.name[i]) == kn && memcmp(c->gt->keys.name[i], k, kn) == 0) {
            g = c->gt->vals[i];
            gn = strlen(g);
        }
    add(c->b, k, kn, o, on, v, vn, g, gn);
}

int crowd_set_load(const char *kind, const char *path, const char *name, struct crowd_set *out)
{
    struct builder b = {0};
    int rc = -1;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", name);
    /* fixed label ids for the boolean sets so that "false" is 0 */
    if (strcmp(kind, "snow") == 0) {
        rc = load_lines(&b, path, '\t', 1, 1, 2, 3, 4);
    } else if (strcmp(kind, "act") == 0) {
        rc = load_lines(&b, path, ',', 0, 0, 1, 2, 3);
    } else if (strcmp(kind, "bluebirds") == 0) {
        char p1[4096], p2[4096];
        struct gt_pair *gt = calloc(1, sizeof *gt);
        struct bb_ctx c = {&b, gt};
        snprintf(p1, sizeof p1, "%s/gt.yaml", path);
        snprintf(p2, sizeof p2, "%s/labels.yaml", path);
        names_id(&b.labels, "false", 5);
        names_id(&b.labels, "true", 4);
        rc = load_yaml_map(p1, emit_gt, gt);
        if (rc == 0)
            rc = load_yaml_map(p2, emit_label, &c);
        names_free(&gt->keys);
        free(gt);
    }
    if (rc == 0) {
        struct arena *a = arena_create(0);
        struct lode_error err = {0};
        size_t n = b.n;
        struct labeling_answer *idx = malloc((b.n ? b.n : 1) * sizeof *idx);
        set_gold(&b, (uint32_t)b.items.count, NULL, 0); /* ensure gold covers every item */
        for (size_t i = 0; i < b.n; i++) { /* carry the row index through the dedupe */
            idx[i] = b.a[i];
            idx[i].label = (uint32_t)i;
        }
        if (labeling_answers_dedupe(idx, b.n, (uint32_t)b.items.count,
                                    (uint32_t)b.workers.count, a, &n, &err) != LODE_OK) {
            fprintf(stderr, "%s: %s\n", path, err.message);
            rc = -1;
        } else {
            for (size_t i = 0; i < n; i++) { /* survivors keep order: idx[i].label >= i */
                b.a[i] = b.a[idx[i].label];
                b.value[i] = b.value[idx[i].label];
            }
            out->duplicate_count = b.n - n;
        }
        free(idx);
        arena_destroy(a);
        out->answers = b.a;
        out->answer_count = n;
        out->value = b.value;
        out->item_count = (uint32_t)b.items.count;
        out->worker_count = (uint32_t)b.workers.count;
        out->label_count = (uint32_t)b.labels.count;
        out->gold = b.gold;
        out->gold_value = b.gold_value;
        b.a = NULL;
        b.value = NULL;
        b.gold = NULL;
        b.gold_value = NULL;
    }
    free(b.a);
    free(b.value);
    free(b.gold);
    free(b.gold_value);
    names_free(&b.items);
    names_free(&b.workers);
    names_free(&b.labels);
    return rc;
}

void crowd_set_free(struct crowd_set *set)
{
    free(set->answers);
    free(set->value);
    free(set->gold);
    free(set->gold_value);
    memset(set, 0, sizeof *set);
}
