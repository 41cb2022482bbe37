/*
 * dedupe/jsonl.c — streaming JSONL input: a bounded line reader and a one-record parser.
 *
 * The reader holds at most one line (plus one read's worth) in memory; a line over the limit
 * is skipped to its end without being buffered whole, so a huge line costs no memory.
 */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/limits.h"
#include "dedupe/dedupe.h"

#define READ_CHUNK 65536

void dedupe_line_reader_init(struct dedupe_line_reader *r, dedupe_read_fn read, void *ctx,
                             size_t line_bytes_max)
{
    memset(r, 0, sizeof *r);
    r->read = read;
    r->ctx = ctx;
    r->line_bytes_max = line_bytes_max ? line_bytes_max : LODE_DEDUPE_LINE_BYTES_MAX;
}

void dedupe_line_reader_fini(struct dedupe_line_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    r->buf = NULL;
    r->cap = r->start = r->end = 0;
}

/* Reads more bytes after compacting; false at end of input or on error (r->failed). */
static bool fill(struct dedupe_line_reader *r)
{
    size_t want;
    long n;

    if (r->eof || r->failed)
        return false;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    /* room for a whole line of the maximum length, its '\n' and a NUL */
    want = r->end + READ_CHUNK + 1;
    if (want > r->line_bytes_max + 2)
        want = r->line_bytes_max + 2;
    if (want < r->end + 2)
        want = r->end + 2;
    if (want > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < want)
            cap *= 2;
        r->buf = realloc(r->buf, cap);
        if (r->buf == NULL)
            abort(); /* process-level out of memory (STYLE.md) */
        r->cap = cap;
    }
    n = r->read(r->ctx, r->buf + r->end, r->cap - r->end - 1);
    if (n < 0) {
        r->failed = true;
        return false;
    }
    if (n == 0) {
        r->eof = true;
        return false;
    }
    r->end += (size_t)n;
    return true;
}

enum lode_code dedupe_line_next(struct dedupe_line_reader *r, const char **line_out,
                                size_t *len_out, struct lode_error *err)
{
    bool skipping = false;

    *line_out = NULL;
    *len_out = 0;
    for (;;) {
        char *nl = r->end > r->start ? memchr(r->buf + r->start, '\n', r->end - r->start) : NULL;
        if (nl != NULL) {
            char *line = r->buf + r->start;
            size_t len = (size_t)(nl - line);
            r->start += len + 1;
            r->line_no++;
            if (skipping || len > r->line_bytes_max)
                return lode_error_set(err, LODE_ETOOBIG, "line %llu is longer than %zu bytes",
                                      (unsigned long long)r->line_no, r->line_bytes_max);
            if (len > 0 && line[len - 1] == '\r')
                len--;
            line[len] = '\0';
            *line_out = line;
            *len_out = len;
            return LODE_OK;
        }
        if (r->end - r->start > r->line_bytes_max) {
            skipping = true; /* drop what is buffered; keep reading to the line's end */
            r->start = r->end = 0;
        }
        if (!fill(r)) {
            if (r->failed)
                return lode_error_set(err, LODE_EIO, "could not read input after line %llu",
                                      (unsigned long long)r->line_no);
            if (skipping) {
                r->line_no++;
                r->start = r->end = 0;
                return lode_error_set(err, LODE_ETOOBIG, "line %llu is longer than %zu bytes",
                                      (unsigned long long)r->line_no, r->line_bytes_max);
            }
            if (r->end > r->start) { /* a last line without '\n' */
                char *line = r->buf + r->start;
                size_t len = r->end - r->start;
                r->line_no++;
                r->start = r->end = 0;
                if (len > 0 && line[len - 1] == '\r')
                    len--;
                line[len] = '\0'; /* fill() always leaves one spare byte */
                *line_out = line;
                *len_out = len;
            }
            return LODE_OK;
        }
    }
}

enum lode_code dedupe_record_text(const char *line, size_t len, const char *field,
                                  json_t **doc_out, const char **text_out, size_t *text_len_out,
                                  struct lode_error *err)
{
    json_t *doc, *value;

    *doc_out = NULL;
    if (len == 0)
        return lode_error_set(err, LODE_EINVAL, "line is empty");
    doc = json_body_parse(line, len, LODE_DEDUPE_LINE_BYTES_MAX, LODE_JSON_DEPTH_MAX, err);
    if (doc == NULL)
        return err != NULL && err->code == LODE_ETOOBIG ? LODE_ETOOBIG : LODE_EINVAL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return lode_error_set(err, LODE_EINVAL, "line is not a JSON object");
    }
    value = json_object_get(doc, field);
    if (value == NULL) {
        json_decref(doc);
        return lode_error_set(err, LODE_EINVAL, "field \"%.100s\" is missing", field);
    }
    if (!json_is_string(value)) {
        json_decref(doc);
        return lode_error_set(err, LODE_EINVAL, "field \"%.100s\" is not a string", field);
    }
    if (json_string_length(value) > LODE_DEDUPE_TEXT_BYTES_MAX) {
        size_t n = json_string_length(value);
        json_decref(doc);
        return lode_error_set(err, LODE_ETOOBIG, "field \"%.100s\" is %zu bytes, over %u",
                              field, n, (unsigned)LODE_DEDUPE_TEXT_BYTES_MAX);
    }
    *doc_out = doc;
    *text_out = json_string_value(value);
    *text_len_out = json_string_length(value);
    return LODE_OK;
}
