/*
 * cli/cmd_dedupe.c — `lode dedupe`: exact and near-duplicate clusters of a JSONL file.
 *
 * Streams the input once. For record i (0-based line number) it writes one JSON object, in
 * input order: {"index": i, "cluster": c, "duplicate_of": j|null, "similarity": s|null}.
 * duplicate_of is the earliest earlier record verified as a duplicate (same normalised text,
 * or Jaccard >= threshold over shingles), similarity its Jaccard (1 for an exact duplicate),
 * and cluster the cluster of duplicate_of (or i itself), so c is always the first record of
 * the cluster. An exact duplicate of record e inherits e's answer (the earliest duplicate of
 * the same text), so only first occurrences enter the band index.
 *
 * Bad lines (not JSON, not an object, field missing or not a string, invalid UTF-8, over a
 * size limit): with --on-error fail (default) the line number and reason go to stderr and the
 * command exits 2 after the records before it; with --on-error skip the line gets
 * {"index": i, "cluster": null, "duplicate_of": null, "similarity": null, "error": "..."},
 * a warning goes to stderr and the run goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/limits.h"
#include "core/options.h"
#include "dedupe/dedupe.h"

#define NONE UINT32_MAX

struct exact_slot {
    uint8_t digest[32];
    uint32_t item_plus_one; /* 0 = empty */
};

struct dedupe_run {
    struct dedupe_params params;
    bool verify_exact, skip_bad;
    struct dedupe_workspace ws;
    struct dedupe_index *index;

    /* per record */
    uint32_t *dup_of, *cluster, *slot; /* slot: row in sigs/texts, NONE if not indexed */
    float *sim;
    size_t items, items_cap;

    /* per indexed record (first occurrences of a normalised text) */
    struct dedupe_signature *sigs;
    uint64_t *text_off;
    uint32_t *text_len;
    size_t rows, rows_cap;
    char *texts;
    size_t texts_len, texts_cap;

    /* normalised-text SHA-256 -> first record */
    struct exact_slot *exact;
    size_t exact_mask, exact_count;

    /* figures for --stats */
    size_t exact_dups, near_dups, bad, candidates, jaccards;
};

static void *grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
    size_t n = *cap ? *cap : 1024;

    if (need <= *cap)
        return p;
    while (n < need)
        n *= 2;
    p = realloc(p, n * elem);
    if (p == NULL) {
        fprintf(stderr, "lode dedupe: out of memory\n");
        exit(EXIT_RUNTIME);
    }
    *cap = n;
    return p;
}

static long read_file(void *ctx, char *buf, size_t cap)
{
    size_t n = fread(buf, 1, cap, (FILE *)ctx);
    if (n == 0 && ferror((FILE *)ctx))
        return -1;
    return (long)n;
}

static size_t exact_slot_of(const struct dedupe_run *run, const uint8_t digest[32])
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & run->exact_mask;
}

/* Returns the first record with this normalised text, or NONE after recording `item` as it. */
static uint32_t exact_lookup_or_add(struct dedupe_run *run, const uint8_t digest[32],
                                    uint32_t item)
{
    size_t s;

    if ((run->exact_count + 1) * 2 > run->exact_mask + 1) {
        size_t old_cap = run->exact_mask + 1, cap = old_cap * 2;
        struct exact_slot *old = run->exact;
        run->exact = calloc(cap, sizeof *run->exact);
        if (run->exact == NULL) {
            fprintf(stderr, "lode dedupe: out of memory\n");
            exit(EXIT_RUNTIME);
        }
        run->exact_mask = cap - 1;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].item_plus_one == 0)
                continue;
            s = exact_slot_of(run, old[i].digest);
            while (run->exact[s].item_plus_one != 0)
                s = (s + 1) & run->exact_mask;
            run->exact[s] = old[i];
        }
        free(old);
    }
    s = exact_slot_of(run, digest);
    while (run->exact[s].item_plus_one != 0) {
        if (memcmp(run->exact[s].digest, digest, 32) == 0)
            return run->exact[s].item_plus_one - 1;
        s = (s + 1) & run->exact_mask;
    }
    memcpy(run->exact[s].digest, digest, 32);
    run->exact[s].item_plus_one = item + 1;
    run->exact_count++;
    return NONE;
}

/* JSON string body for an error message (our own text, but it may quote input). */
static void put_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\u%04x", c); /* messages are ASCII; anything else is escaped */
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void write_record(const struct dedupe_run *run, uint32_t i, FILE *out)
{
    if (run->dup_of[i] == NONE)
        fprintf(out, "{\"index\":%u,\"cluster\":%u,\"duplicate_of\":null,\"similarity\":null}\n",
                i, run->cluster[i]);
    else
        fprintf(out, "{\"index\":%u,\"cluster\":%u,\"duplicate_of\":%u,\"similarity\":%.4f}\n", i,
                run->cluster[i], run->dup_of[i], (double)run->sim[i]);
}

/* Finds the earliest verified duplicate of a new record and indexes it. */
static enum lode_code near_match(struct dedupe_run *run, uint32_t i, const char *norm,
                                 size_t norm_len, struct lode_error *err)
{
    struct dedupe_signature sig;
    uint64_t keys[DEDUPE_HASHES];
    const uint32_t *cands;
    size_t nkeys, ncands;
    enum lode_code rc;
    uint32_t row;

    rc = dedupe_signature_compute(&run->ws, &run->params, norm, norm_len, &sig, err);
    if (rc != LODE_OK)
        return rc;
    nkeys = dedupe_signature_bands(&run->params, &sig, keys);
    dedupe_index_candidates(run->index, keys, nkeys, &cands, &ncands);
    run->candidates += ncands;
    for (size_t c = 0; c < ncands; c++) {
        struct dedupe_match m;
        uint32_t other = cands[c], orow = run->slot[other];
        const char *other_text = run->texts + run->text_off[orow];
        rc = dedupe_candidate_verify(&run->ws, &run->params, &sig, &run->sigs[orow],
                                     run->verify_exact ? norm : NULL, norm_len,
                                     run->verify_exact ? other_text : NULL,
                                     run->text_len[orow], &m, err);
        if (rc != LODE_OK)
            return rc;
        run->jaccards += m.exact;
        if (m.verdict != DEDUPE_DISTINCT) {
            run->dup_of[i] = other;
            run->sim[i] = (float)m.similarity;
            run->cluster[i] = run->cluster[other];
            run->near_dups++;
            break;
        }
    }

    row = (uint32_t)run->rows;
    size_t old_cap = run->rows_cap;
    run->sigs = grow_array(run->sigs, &run->rows_cap, run->rows + 1, sizeof *run->sigs);
    if (run->rows_cap != old_cap) {
        size_t cap = run->rows_cap;
        run->text_off = realloc(run->text_off, cap * sizeof *run->text_off);
        run->text_len = realloc(run->text_len, cap * sizeof *run->text_len);
        if (run->text_off == NULL || run->text_len == NULL) {
            fprintf(stderr, "lode dedupe: out of memory\n");
            exit(EXIT_RUNTIME);
        }
    }
    run->sigs[row] = sig;
    run->text_off[row] = run->texts_len;
    run->text_len[row] = (uint32_t)norm_len;
    if (run->verify_exact) {
        run->texts = grow_array(run->texts, &run->texts_cap, run->texts_len + norm_len + 1, 1);
        memcpy(run->texts + run->texts_len, norm, norm_len);
        run->texts_len += norm_len;
    }
    run->slot[i] = row;
    run->rows++;
    if (dedupe_index_insert(run->index, i, keys, nkeys, err) != LODE_OK) {
        char why[LODE_ERROR_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", err->message);
        return lode_error_set(err, LODE_ENOMEM, "could not index record: %s", why);
    }
    return LODE_OK;
}

/* Processes one record's text. LODE_EINVAL / LODE_ETOOBIG are input errors. */
static enum lode_code process_text(struct dedupe_run *run, uint32_t i, const char *text,
                                   size_t len, struct lode_error *err)
{
    const char *norm;
    size_t norm_len;
    uint8_t digest[32];
    uint32_t first;
    enum lode_code rc;

    rc = dedupe_text_normalise(&run->ws, text, len, &norm, &norm_len, err);
    if (rc != LODE_OK)
        return rc;
    dedupe_sha256(norm, norm_len, digest);
    first = exact_lookup_or_add(run, digest, i);
    if (first != NONE) {
        run->exact_dups++;
        run->cluster[i] = run->cluster[first];
        if (run->dup_of[first] != NONE) {
            run->dup_of[i] = run->dup_of[first];
            run->sim[i] = run->sim[first];
        } else {
            run->dup_of[i] = first;
            run->sim[i] = 1.0f;
        }
        return LODE_OK;
    }
    return near_match(run, i, norm, norm_len, err);
}

static void run_fini(struct dedupe_run *run)
{
    dedupe_workspace_fini(&run->ws);
    dedupe_index_destroy(run->index);
    free(run->dup_of);
    free(run->cluster);
    free(run->slot);
    free(run->sim);
    free(run->sigs);
    free(run->text_off);
    free(run->text_len);
    free(run->texts);
    free(run->exact);
}

int cmd_dedupe(int argc, char **argv)
{
    const char *input = NULL, *field = NULL, *threshold_text = NULL, *scheme = NULL;
    const char *verify = NULL, *on_error = NULL;
    bool stats = false;
    const struct option_spec options[] = {
        {"input", OPTION_STRING, &input, NULL, "JSONL file to read (- for standard input)", 0, 0},
        {"field", OPTION_STRING, &field, "text", "string member holding each record's text", 0,
         0},
        {"threshold", OPTION_STRING, &threshold_text, DEDUPE_THRESHOLD_DEFAULT_TEXT,
         "Jaccard similarity at or above which records are near duplicates, in (0, 1]", 0, 0},
        {"shingle", OPTION_STRING, &scheme, "char:5",
         "shingles: char:K (K code points) or word:K (K words)", 0, 0},
        {"verify", OPTION_STRING, &verify, "exact",
         "candidate check: exact (Jaccard over shingle sets; keeps normalised texts in memory) "
         "or estimate (MinHash estimate only)",
         0, 0},
        {"on-error", OPTION_STRING, &on_error, "fail",
         "bad line: fail (report it and exit 2) or skip (write an error record, go on)", 0, 0},
        {"stats", OPTION_FLAG, &stats, "false", "print a JSON summary to standard error", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "dedupe", "Find exact and near-duplicate records in a JSONL file.",
        "Writes one JSON object per input line, in order, to standard output:\n"
        "{\"index\": i, \"cluster\": c, \"duplicate_of\": j|null, \"similarity\": s|null}.\n"
        "See docs/dedupe.md for the algorithm and its parameters.",
        options, NULL};
    struct dedupe_run run;
    struct dedupe_line_reader reader;
    struct lode_error err = {0};
    char *end = NULL;
    double threshold;
    FILE *in;
    int first = 0, status = EXIT_OK;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (first < argc) {
        fprintf(stderr, "lode dedupe: unexpected argument \"%s\"\n", argv[first]);
        return EXIT_USAGE;
    }
    memset(&run, 0, sizeof run);
    if (input == NULL || *input == '\0') {
        fprintf(stderr, "lode dedupe: --input is required\n");
        return EXIT_USAGE;
    }
    errno = 0;
    threshold = strtod(threshold_text, &end);
    if (errno != 0 || end == threshold_text || *end != '\0' ||
        dedupe_params_parse_scheme(&run.params, scheme, &err) != LODE_OK ||
        dedupe_params_init(&run.params, run.params.kind, run.params.k, threshold, &err) !=
            LODE_OK) {
        fprintf(stderr, "lode dedupe: %s\n",
                err.message[0] ? err.message : "threshold is not a number");
        return EXIT_USAGE;
    }
    if (strcmp(verify, "exact") != 0 && strcmp(verify, "estimate") != 0) {
        fprintf(stderr, "lode dedupe: --verify must be exact or estimate\n");
        return EXIT_USAGE;
    }
    if (strcmp(on_error, "fail") != 0 && strcmp(on_error, "skip") != 0) {
        fprintf(stderr, "lode dedupe: --on-error must be fail or skip\n");
        return EXIT_USAGE;
    }
    run.verify_exact = strcmp(verify, "exact") == 0;
    run.skip_bad = strcmp(on_error, "skip") == 0;

    in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (in == NULL) {
        int e = errno;
        fprintf(stderr, "lode dedupe: could not open \"%s\": %s\n", input, strerror(e));
        return e == ENOENT || e == EISDIR ? EXIT_USAGE : EXIT_RUNTIME;
    }
    dedupe_workspace_init(&run.ws);
    run.index = dedupe_index_create(0);
    run.exact = calloc(1024, sizeof *run.exact);
    if (run.exact == NULL) {
        fprintf(stderr, "lode dedupe: out of memory\n");
        exit(EXIT_RUNTIME);
    }
    run.exact_mask = 1023;
    setvbuf(stdout, NULL, _IOFBF, 1 << 20);
    dedupe_line_reader_init(&reader, read_file, in, LODE_DEDUPE_LINE_BYTES_MAX);

    for (;;) {
        const char *line, *text;
        size_t len, text_len;
        json_t *doc = NULL;
        uint32_t i = (uint32_t)run.items;
        enum lode_code rc;

        lode_error_clear(&err);
        rc = dedupe_line_next(&reader, &line, &len, &err);
        if (rc == LODE_EIO) {
            fprintf(stderr, "lode dedupe: %s: %s\n", err.message, strerror(errno));
            status = EXIT_RUNTIME;
            break;
        }
        if (rc == LODE_OK && line == NULL)
            break;
        if (run.items >= LODE_DEDUPE_ITEMS_MAX) {
            fprintf(stderr, "lode dedupe: more than %u records\n", LODE_DEDUPE_ITEMS_MAX);
            status = EXIT_USAGE;
            break;
        }
        size_t old_cap = run.items_cap;
        run.dup_of = grow_array(run.dup_of, &run.items_cap, run.items + 1, sizeof *run.dup_of);
        if (run.items_cap != old_cap) {
            run.cluster = realloc(run.cluster, run.items_cap * sizeof *run.cluster);
            run.slot = realloc(run.slot, run.items_cap * sizeof *run.slot);
            run.sim = realloc(run.sim, run.items_cap * sizeof *run.sim);
            if (run.cluster == NULL || run.slot == NULL || run.sim == NULL) {
                fprintf(stderr, "lode dedupe: out of memory\n");
                exit(EXIT_RUNTIME);
            }
        }
        run.items++;
        run.dup_of[i] = NONE;
        run.cluster[i] = i;
        run.slot[i] = NONE;
        run.sim[i] = 0.0f;

        if (rc == LODE_OK)
            rc = dedupe_record_text(line, len, field, &doc, &text, &text_len, &err);
        if (rc == LODE_OK) {
            rc = process_text(&run, i, text, text_len, &err);
            json_decref(doc);
        }
        if (rc == LODE_EINVAL || rc == LODE_ETOOBIG) {
            run.bad++;
            fprintf(stderr, "lode dedupe: line %u: %s\n", i + 1, err.message);
            if (!run.skip_bad) {
                status = EXIT_USAGE;
                break;
            }
            fprintf(stdout, "{\"index\":%u,\"cluster\":null,\"duplicate_of\":null,"
                            "\"similarity\":null,\"error\":", i);
            put_json_string(stdout, err.message);
            fputs("}\n", stdout);
            continue;
        }
        if (rc != LODE_OK) {
            fprintf(stderr, "lode dedupe: line %u: %s\n", i + 1, err.message);
            status = EXIT_RUNTIME;
            break;
        }
        write_record(&run, i, stdout);
    }

    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "lode dedupe: could not write output: %s\n", strerror(errno));
        status = EXIT_RUNTIME;
    }
    if (stats)
        fprintf(stderr,
                "{\"records\":%zu,\"bad\":%zu,\"exact_duplicates\":%zu,\"near_duplicates\":%zu,"
                "\"indexed\":%zu,\"band_entries\":%zu,\"index_bytes\":%zu,\"candidates\":%zu,"
                "\"jaccards\":%zu,\"bands\":%u,\"rows\":%u,\"shingle\":\"%s\",\"threshold\":%g}\n",
                run.items, run.bad, run.exact_dups, run.near_dups, run.rows,
                dedupe_index_entries(run.index), dedupe_index_bytes(run.index), run.candidates,
                run.jaccards, run.params.bands, run.params.rows, scheme, run.params.threshold);
    dedupe_line_reader_fini(&reader);
    if (in != stdin)
        fclose(in);
    run_fini(&run);
    return status;
}
