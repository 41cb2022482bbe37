/*
 * labeling/answers_csv.c — the offline answers file: RFC 4180 CSV with a header naming the
 * columns task, worker and label.
 *
 * One pass over the bytes with a small state machine; every field is bounded by
 * LODE_LABELING_FIELD_BYTES_MAX and every row by LODE_LABELING_CSV_FIELDS_MAX before anything
 * is copied. Names are interned in three open-addressing tables, so ids are dense and follow
 * first appearance; growing arrays live on the heap during the parse and are copied into the
 * caller's arena at the end.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/limits.h"
#include "labeling/labeling.h"

struct intern {
    const char **names; /* heap, [count] -> arena strings */
    uint32_t *slots;    /* heap, id + 1 or 0 */
    size_t cap, count;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* Id of name s[0..n), added when new. Returns false on allocation failure. */
static bool intern_id(struct intern *t, struct arena *arena, const char *s, size_t n,
                      uint32_t *id_out)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint32_t *slots = calloc(cap, sizeof *slots);
        const char **names = realloc(t->names, cap * sizeof *names);
        if (slots == NULL || names == NULL) {
            free(slots);
            if (names != NULL)
                t->names = names;
            return false;
        }
        t->names = names;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i] != 0) {
                const char *k = t->names[t->slots[i] - 1];
                size_t j = hash_bytes(k, strlen(k)) & (cap - 1);
                while (slots[j] != 0)
                    j = (j + 1) & (cap - 1);
                slots[j] = t->slots[i];
            }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t j = hash_bytes(s, n) & (t->cap - 1);
    while (t->slots[j] != 0) {
        const char *k = t->names[t->slots[j] - 1];
        if (strncmp(k, s, n) == 0 && k[n] == '\0') {
            *id_out = t->slots[j] - 1;
            return true;
        }
        j = (j + 1) & (t->cap - 1);
    }
    char *copy = arena_strndup(arena, s, n);
    if (copy == NULL)
        return false;
    t->names[t->count] = copy;
    t->slots[j] = (uint32_t)(t->count + 1);
    *id_out = (uint32_t)t->count++;
    return true;
}

static void intern_free(struct intern *t)
{
    free(t->names);
    free(t->slots);
}

static const char **intern_export(struct intern *t, struct arena *arena)
{
    const char **out = arena_calloc(arena, t->count ? t->count : 1, sizeof *out);
    if (out != NULL && t->count)
        memcpy(out, t->names, t->count * sizeof *out);
    return out;
}

/* One parsed field: the bytes, unescaped into buf (quoted fields) or pointing into the input. */
struct field {
    const char *s;
    size_t n;
};

struct parser {
    const char *p, *end;
    size_t line;       /* physical line of the cursor, 1-based */
    char *buf;         /* unescape space for the current row */
    size_t buf_used;
    struct field fields[LODE_LABELING_CSV_FIELDS_MAX];
    size_t nfields;
};

/* Reads one record into ps->fields. Returns LODE_OK with nfields = 0 at end of input. */
static enum lode_code read_record(struct parser *ps, struct lode_error *err)
{
    ps->nfields = 0;
    ps->buf_used = 0;
    if (ps->p >= ps->end)
        return LODE_OK;
    size_t start_line = ps->line;
    for (;;) {
        struct field f;
        if (ps->nfields == LODE_LABELING_CSV_FIELDS_MAX)
            return lode_error_set(err, LODE_ETOOBIG, "line %zu: more than %d fields",
                                  start_line, LODE_LABELING_CSV_FIELDS_MAX);
        if (ps->p < ps->end && *ps->p == '"') {
            char *out = ps->buf + ps->buf_used;
            size_t n = 0;
            ps->p++;
            for (;;) {
                if (ps->p >= ps->end)
                    return lode_error_set(err, LODE_EINVAL,
                                          "line %zu: quoted field is not closed", start_line);
                char c = *ps->p++;
                if (c == '"') {
                    if (ps->p < ps->end && *ps->p == '"')
                        ps->p++;
                    else
                        break;
                } else if (c == '\n') {
                    ps->line++;
                } else if (c == '\0') {
                    return lode_error_set(err, LODE_EINVAL, "line %zu: NUL byte in a field",
                                          ps->line);
                }
                if (n == LODE_LABELING_FIELD_BYTES_MAX)
                    return lode_error_set(err, LODE_ETOOBIG,
                                          "line %zu: field longer than %d bytes", start_line,
                                          LODE_LABELING_FIELD_BYTES_MAX);
                out[n++] = c;
            }
            ps->buf_used += n;
            f.s = out;
            f.n = n;
            if (ps->p < ps->end && *ps->p != ',' && *ps->p != '\n' && *ps->p != '\r')
                return lode_error_set(err, LODE_EINVAL,
                                      "line %zu: unexpected character after a quoted field",
                                      ps->line);
        } else {
            const char *s = ps->p;
            while (ps->p < ps->end && *ps->p != ',' && *ps->p != '\n' && *ps->p != '\r') {
                if (*ps->p == '"')
                    return lode_error_set(err, LODE_EINVAL,
                                          "line %zu: quote inside an unquoted field", ps->line);
                if (*ps->p == '\0')
                    return lode_error_set(err, LODE_EINVAL, "line %zu: NUL byte in a field",
                                          ps->line);
                ps->p++;
            }
            f.s = s;
            f.n = (size_t)(ps->p - s);
            if (f.n > LODE_LABELING_FIELD_BYTES_MAX)
                return lode_error_set(err, LODE_ETOOBIG, "line %zu: field longer than %d bytes",
                                      ps->line, LODE_LABELING_FIELD_BYTES_MAX);
        }
        ps->fields[ps->nfields++] = f;
        if (ps->p >= ps->end)
            return LODE_OK;
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == '\r') {
            if (ps->p + 1 >= ps->end || ps->p[1] != '\n')
                return lode_error_set(err, LODE_EINVAL, "line %zu: carriage return without a "
                                      "line feed", ps->line);
            ps->p++;
        }
        ps->p++; /* '\n' */
        ps->line++;
        return LODE_OK;
    }
}

static bool record_is_blank(const struct parser *ps)
{
    return ps->nfields == 1 && ps->fields[0].n == 0;
}

enum lode_code labeling_csv_parse(const char *data, size_t len, struct arena *arena,
                                  struct labeling_table *table_out, struct lode_error *err)
{
    return labeling_csv_parse_schema(data, len, NULL, 0, arena, table_out, err);
}

enum lode_code labeling_csv_parse_schema(const char *data, size_t len,
                                         const char *const *schema, uint32_t schema_count,
                                         struct arena *arena, struct labeling_table *table_out,
                                         struct lode_error *err)
{
    static const char *const wanted[3] = {"task", "worker", "label"};
    struct labeling_table *t = table_out;
    struct intern names[3] = {{0}};
    struct parser *ps;
    struct labeling_answer *rows = NULL;
    size_t rows_cap = 0, nrows = 0, ncols = 0;
    size_t col[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    enum lode_code rc = LODE_OK;

    memset(t, 0, sizeof *t);
    ps = calloc(1, sizeof *ps);
    if (ps == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the CSV parser");
    ps->buf = malloc((size_t)LODE_LABELING_FIELD_BYTES_MAX * LODE_LABELING_CSV_FIELDS_MAX);
    if (ps->buf == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not allocate the CSV parser");
        goto free_parser;
    }
    if (schema_count > LODE_LABELING_LABELS_MAX) {
        rc = lode_error_set(err, LODE_ETOOBIG, "more than %d labels in the schema",
                            LODE_LABELING_LABELS_MAX);
        goto free_parser;
    }
    for (uint32_t k = 0; k < schema_count; k++) { /* schema labels take ids 0.. in order */
        uint32_t id;
        size_t n = strlen(schema[k]);
        if (n == 0 || n > LODE_LABELING_FIELD_BYTES_MAX) {
            rc = lode_error_set(err, LODE_EINVAL, "schema label %u is empty or too long", k);
            goto free_parser;
        }
        if (!intern_id(&names[2], arena, schema[k], n, &id)) {
            rc = lode_error_set(err, LODE_ENOMEM, "could not store names");
            goto free_parser;
        }
        if (id != k) {
            rc = lode_error_set(err, LODE_EINVAL, "schema label \"%s\" appears twice", schema[k]);
            goto free_parser;
        }
    }
    ps->p = data;
    ps->end = data + len;
    ps->line = 1;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        ps->p += 3;

    /* header: the first non-blank record */
    do {
        rc = read_record(ps, err);
        if (rc != LODE_OK)
            goto free_parser;
    } while (ps->nfields > 0 && record_is_blank(ps));
    if (ps->nfields == 0) {
        rc = lode_error_set(err, LODE_EINVAL, "empty file: expected a header with the columns "
                            "task, worker, label");
        goto free_parser;
    }
    ncols = ps->nfields;
    for (size_t i = 0; i < ncols; i++)
        for (int c = 0; c < 3; c++)
            if (ps->fields[i].n == strlen(wanted[c]) &&
                strncasecmp(ps->fields[i].s, wanted[c], ps->fields[i].n) == 0) {
                if (col[c] != SIZE_MAX) {
                    rc = lode_error_set(err, LODE_EINVAL, "line 1: column \"%s\" appears twice",
                                        wanted[c]);
                    goto free_parser;
                }
                col[c] = i;
            }
    for (int c = 0; c < 3; c++)
        if (col[c] == SIZE_MAX) {
            rc = lode_error_set(err, LODE_EINVAL, "header has no column \"%s\" (need task, "
                                "worker, label)", wanted[c]);
            goto free_parser;
        }

    for (;;) {
        size_t line = ps->line;
        uint32_t id[3];
        rc = read_record(ps, err);
        if (rc != LODE_OK)
            goto free_rows;
        if (ps->nfields == 0)
            break;
        if (record_is_blank(ps))
            continue;
        if (ps->nfields != ncols) {
            rc = lode_error_set(err, LODE_EINVAL, "line %zu: %zu fields, the header has %zu",
                                line, ps->nfields, ncols);
            goto free_rows;
        }
        if (nrows == LODE_LABELING_ANSWERS_MAX) {
            rc = lode_error_set(err, LODE_ETOOBIG, "line %zu: more than %u answers", line,
                                LODE_LABELING_ANSWERS_MAX);
            goto free_rows;
        }
        for (int c = 0; c < 3; c++) {
            const struct field *f = &ps->fields[col[c]];
            if (f->n == 0) {
                rc = lode_error_set(err, LODE_EINVAL, "line %zu: empty %s", line, wanted[c]);
                goto free_rows;
            }
            if (!intern_id(&names[c], arena, f->s, f->n, &id[c])) {
                rc = lode_error_set(err, LODE_ENOMEM, "could not store names");
                goto free_rows;
            }
        }
        if (schema_count > 0 && names[2].count > schema_count) {
            const struct field *f = &ps->fields[col[2]];
            rc = lode_error_set(err, LODE_EINVAL, "line %zu: label \"%.*s\" is not in the schema",
                                line, f->n > 64 ? 64 : (int)f->n, f->s);
            goto free_rows;
        }
        if (names[2].count > LODE_LABELING_LABELS_MAX) {
            rc = lode_error_set(err, LODE_ETOOBIG, "line %zu: more than %d distinct labels",
                                line, LODE_LABELING_LABELS_MAX);
            goto free_rows;
        }
        if (nrows == rows_cap) {
            size_t cap = rows_cap ? rows_cap * 2 : 1024;
            struct labeling_answer *grown = realloc(rows, cap * sizeof *grown);
            if (grown == NULL) {
                rc = lode_error_set(err, LODE_ENOMEM, "could not store answers");
                goto free_rows;
            }
            rows = grown;
            rows_cap = cap;
        }
        rows[nrows].item = id[0];
        rows[nrows].worker = id[1];
        rows[nrows].label = id[2];
        nrows++;
    }
    if (nrows == 0) {
        rc = lode_error_set(err, LODE_EINVAL, "no answers after the header");
        goto free_rows;
    }
    rc = labeling_answers_dedupe(rows, nrows, (uint32_t)names[0].count,
                                 (uint32_t)names[1].count, arena, &t->answer_count, err);
    if (rc != LODE_OK)
        goto free_rows;
    t->answers = arena_alloc(arena, t->answer_count * sizeof *t->answers);
    t->task_names = intern_export(&names[0], arena);
    t->worker_names = intern_export(&names[1], arena);
    t->label_names = intern_export(&names[2], arena);
    if (t->answers == NULL || t->task_names == NULL || t->worker_names == NULL ||
        t->label_names == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not store answers");
        goto free_rows;
    }
    memcpy(t->answers, rows, t->answer_count * sizeof *t->answers);
    t->task_count = (uint32_t)names[0].count;
    t->worker_count = (uint32_t)names[1].count;
    t->label_count = (uint32_t)names[2].count;
    t->row_count = nrows;
    t->duplicate_count = nrows - t->answer_count;

free_rows:
    free(rows);
free_parser:
    for (int c = 0; c < 3; c++)
        intern_free(&names[c]);
    if (ps != NULL)
        free(ps->buf);
    free(ps);
    if (rc != LODE_OK)
        memset(t, 0, sizeof *t);
    return rc;
}
