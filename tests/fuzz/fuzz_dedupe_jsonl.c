/*
 * tests/fuzz/fuzz_dedupe_jsonl.c — the JSONL line reader and record parser on arbitrary bytes.
 * The first byte sets the read chunk size and the line limit (small, so the over-long path
 * runs); every line is parsed as a record and, when it holds a text, normalised.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe/dedupe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    const uint8_t *data;
    size_t len, pos, chunk;
};

static long read_input(void *ctx, char *buf, size_t cap)
{
    struct input *in = ctx;
    size_t n = in->len - in->pos;
    if (n > cap)
        n = cap;
    if (n > in->chunk)
        n = in->chunk;
    memcpy(buf, in->data + in->pos, n);
    in->pos += n;
    return (long)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dedupe_workspace ws;
    struct dedupe_line_reader r;
    struct input in;
    uint64_t lines = 0;

    if (size < 1)
        return 0;
    in.data = data + 1;
    in.len = size - 1;
    in.pos = 0;
    in.chunk = 1u + (data[0] & 0x0f) * 3u;
    dedupe_line_reader_init(&r, read_input, &in, 16u + (size_t)(data[0] >> 4) * 64u);
    for (;;) {
        const char *line, *text, *norm;
        size_t len, text_len, n;
        json_t *doc = NULL;
        enum lode_code rc = dedupe_line_next(&r, &line, &len, NULL);

        if (rc == LODE_OK && line == NULL)
            break;
        assert(rc == LODE_OK || rc == LODE_ETOOBIG);
        lines++;
        assert(r.line_no == lines);
        if (rc != LODE_OK)
            continue;
        assert(len <= r.line_bytes_max && strlen(line) <= len);
        if (dedupe_record_text(line, len, "text", &doc, &text, &text_len, NULL) == LODE_OK) {
            (void)dedupe_text_normalise(&ws, text, text_len, &norm, &n, NULL);
            json_decref(doc);
        } else {
            assert(doc == NULL);
        }
    }
    assert(lines <= in.len + 1);
    dedupe_line_reader_fini(&r);
    return 0;
}
