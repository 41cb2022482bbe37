/*
 * bench/dedupe_throughput.c — single-core throughput of the dedupe engine.
 *
 * usage: dedupe_throughput FILE.jsonl [MAX_RECORDS] [SCHEME...]
 *
 * Loads the "text" member of up to MAX_RECORDS lines (default 200000), then times, over the
 * same texts, five runs each of: normalisation alone; normalisation + MinHash signature + band
 * keys per scheme (default char:5 char:7 word:3); and SHA-256 of the raw bytes (libsodium) as
 * the reference run in the same process. Prints medians in MB/s of input text (one core) and
 * records/s, and each figure's ratio to SHA-256.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "dedupe/dedupe.h"

#define RUNS 5

struct corpus {
    char **texts;
    size_t *lens;
    size_t count, bytes;
};

static long read_file(void *ctx, char *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, (FILE *)ctx);
    return n == 0 && ferror((FILE *)ctx) ? -1 : (long)n;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

static int load(const char *path, size_t max, struct corpus *c)
{
    FILE *f = fopen(path, "rb");
    struct dedupe_line_reader r;
    const char *line, *text;
    size_t len, text_len;
    json_t *doc;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    memset(c, 0, sizeof *c);
    c->texts = calloc(max, sizeof *c->texts);
    c->lens = calloc(max, sizeof *c->lens);
    dedupe_line_reader_init(&r, read_file, f, 0);
    while (c->count < max && dedupe_line_next(&r, &line, &len, NULL) == LODE_OK && line != NULL) {
        if (dedupe_record_text(line, len, "text", &doc, &text, &text_len, NULL) != LODE_OK)
            continue;
        c->texts[c->count] = malloc(text_len + 1);
        memcpy(c->texts[c->count], text, text_len + 1);
        c->lens[c->count++] = text_len;
        c->bytes += text_len;
        json_decref(doc);
    }
    dedupe_line_reader_fini(&r);
    fclose(f);
    return 0;
}

/* mode 0: SHA-256; 1: normalise; 2: normalise + signature + bands */
static double run_once(const struct corpus *c, const struct dedupe_params *p, int mode,
                       uint64_t *sink)
{
    struct dedupe_workspace ws;
    struct dedupe_signature sig;
    uint64_t keys[DEDUPE_HASHES];
    uint8_t digest[32];
    double t0;

    dedupe_workspace_init(&ws);
    t0 = bench_now_s();
    for (size_t i = 0; i < c->count; i++) {
        const char *norm;
        size_t n;
        if (mode == 0) {
            dedupe_sha256(c->texts[i], c->lens[i], digest);
            *sink += digest[0];
            continue;
        }
        if (dedupe_text_normalise(&ws, c->texts[i], c->lens[i], &norm, &n, NULL) != LODE_OK)
            continue;
        *sink += n;
        if (mode == 2 && dedupe_signature_compute(&ws, p, norm, n, &sig, NULL) == LODE_OK)
            *sink += dedupe_signature_bands(p, &sig, keys) ? keys[0] : 0;
    }
    t0 = bench_now_s() - t0;
    dedupe_workspace_fini(&ws);
    return t0;
}

static double measure(const struct corpus *c, const struct dedupe_params *p, int mode,
                      uint64_t *sink)
{
    double t[RUNS];
    for (int i = 0; i < RUNS; i++)
        t[i] = run_once(c, p, mode, sink);
    return median(t, RUNS);
}

int main(int argc, char **argv)
{
    const char *defaults[] = {"char:5", "char:7", "word:3"};
    const char **schemes = defaults;
    int nschemes = 3;
    size_t max = 200000;
    struct corpus c;
    struct dedupe_params p;
    uint64_t sink = 0;
    double t_sha, t_norm, mb;

    if (argc < 2) {
        fprintf(stderr, "usage: dedupe_throughput FILE.jsonl [MAX_RECORDS] [SCHEME...]\n");
        return 2;
    }
    if (argc >= 3)
        max = strtoul(argv[2], NULL, 10);
    if (argc >= 4) {
        schemes = (const char **)(argv + 3);
        nschemes = argc - 3;
    }
    if (max == 0 || load(argv[1], max, &c) != 0 || c.count == 0) {
        fprintf(stderr, "dedupe_throughput: no records loaded from %s\n", argv[1]);
        return 2;
    }
    mb = (double)c.bytes / 1e6;
    printf("input: %s, %zu records, %.1f MB, %.0f bytes/record; median of %d runs, one core\n",
           argv[1], c.count, mb, (double)c.bytes / (double)c.count, RUNS);
    dedupe_params_init(&p, DEDUPE_SHINGLE_CHAR, 5, DEDUPE_THRESHOLD_DEFAULT, NULL);
    t_sha = measure(&c, &p, 0, &sink);
    t_norm = measure(&c, &p, 1, &sink);
    printf("%-34s %9.1f MB/s %11.0f records/s  ratio 1.00\n", "sha256 (reference)", mb / t_sha,
           (double)c.count / t_sha);
    printf("%-34s %9.1f MB/s %11.0f records/s  ratio %.2f\n", "normalise", mb / t_norm,
           (double)c.count / t_norm, t_sha / t_norm);
    for (int s = 0; s < nschemes; s++) {
        char label[64];
        double t;
        if (dedupe_params_parse_scheme(&p, schemes[s], NULL) != LODE_OK) {
            fprintf(stderr, "dedupe_throughput: bad scheme %s\n", schemes[s]);
            return 2;
        }
        dedupe_params_init(&p, p.kind, p.k, DEDUPE_THRESHOLD_DEFAULT, NULL);
        t = measure(&c, &p, 2, &sink);
        snprintf(label, sizeof label, "normalise+signature+bands %s", schemes[s]);
        printf("%-34s %9.1f MB/s %11.0f records/s  ratio %.2f\n", label, mb / t,
               (double)c.count / t, t_sha / t);
    }
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);
    for (size_t i = 0; i < c.count; i++)
        free(c.texts[i]);
    free(c.texts);
    free(c.lens);
    return 0;
}
