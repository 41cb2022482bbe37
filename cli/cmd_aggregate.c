/*
 * cli/cmd_aggregate.c — `lode aggregate`: consensus labels from a CSV of crowd answers.
 *
 * Reads CSV with a header naming the columns task, worker, label (any order, other columns
 * ignored, RFC 4180 quoting), aggregates with the chosen method and writes CSV
 * `task,label,confidence` to stdout, one row per task in first-appearance order. A repeated
 * (task, worker) pair counts once, with its last answer; how many were replaced is reported
 * on stderr. Input errors name the line and exit 2; nothing is written to stdout then.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/limits.h"
#include "core/options.h"
#include "labeling/labeling.h"

/* Reads a whole file (or stdin for "-") up to the answers-file limit. */
static int read_input(const char *path, char **data_out, size_t *len_out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16, len = 0;
    char *buf;

    if (f == NULL) {
        fprintf(stderr, "lode aggregate: could not open \"%s\": %s\n", path, strerror(errno));
        return EXIT_USAGE;
    }
    struct stat st;
    if (f != stdin && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((unsigned long long)st.st_size > LODE_LABELING_CSV_BYTES_MAX) {
            fprintf(stderr, "lode aggregate: \"%s\" is larger than %llu bytes\n", path,
                    (unsigned long long)LODE_LABELING_CSV_BYTES_MAX);
            fclose(f);
            return EXIT_USAGE;
        }
        cap = (size_t)st.st_size + 1;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "lode aggregate: could not allocate %zu bytes\n", cap);
        if (f != stdin)
            fclose(f);
        return EXIT_RUNTIME;
    }
    for (;;) {
        if (len == cap) {
            if (cap > LODE_LABELING_CSV_BYTES_MAX) {
                fprintf(stderr, "lode aggregate: input is larger than %llu bytes\n",
                        (unsigned long long)LODE_LABELING_CSV_BYTES_MAX);
                free(buf);
                if (f != stdin)
                    fclose(f);
                return EXIT_USAGE;
            }
            char *grown = realloc(buf, cap * 2);
            if (grown == NULL) {
                fprintf(stderr, "lode aggregate: could not allocate %zu bytes\n", cap * 2);
                free(buf);
                if (f != stdin)
                    fclose(f);
                return EXIT_RUNTIME;
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        fprintf(stderr, "lode aggregate: could not read \"%s\"\n", path);
        free(buf);
        if (f != stdin)
            fclose(f);
        return EXIT_RUNTIME;
    }
    if (f != stdin)
        fclose(f);
    *data_out = buf;
    *len_out = len;
    return EXIT_OK;
}

/* Writes one CSV field, quoted when it holds a comma, quote or line break (RFC 4180). */
static void put_field(const char *s, FILE *out)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

int cmd_aggregate(int argc, char **argv)
{
    const char *input = NULL, *method_name = NULL, *workers_path = NULL, *labels = NULL;
    int64_t seed = 0;
    const struct option_spec options[] = {
        {"input", OPTION_STRING, &input, NULL,
         "answers CSV with a header naming task, worker, label (\"-\" = stdin)", 0, 0},
        {"method", OPTION_STRING, &method_name, "auto",
         "mv, onecoin, hds, ds or auto (chooses by held-out likelihood)", 0, 0},
        {"labels", OPTION_STRING, &labels, NULL,
         "comma-separated label schema; a label outside it is an input error", 0, 0},
        {"workers-out", OPTION_STRING, &workers_path, NULL,
         "also write per-worker quality CSV to this file", 0, 0},
        {"seed", OPTION_INT, &seed, "0", "seed of the tie-break hash and the held-out folds", 0,
         INT64_MAX},
        {0},
    };
    const struct command_spec spec = {
        "aggregate", "Consensus labels from crowd answers: writes task,label,confidence CSV.",
        "Each task gets the consensus label and its posterior confidence, in the order tasks\n"
        "first appear. A worker answering the same task twice counts once, with the last\n"
        "answer. With --labels, labels outside the schema are input errors and the schema's\n"
        "labels are known even when nobody chose them.\n"
        "Limits: 1024-byte fields, 256 fields per row, 256 distinct labels, 1e8 rows.\n"
        "Input errors print the line number and exit 2.",
        options, NULL};
    int first = 0, rc = EXIT_OK;
    enum labeling_method method;
    char *data = NULL;
    size_t len = 0;
    struct arena *arena = NULL;
    struct lode_error err = {0};
    struct labeling_table table;
    struct labeling_options opts;
    struct labeling_result result;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (first < argc) {
        fprintf(stderr, "lode aggregate: unexpected argument \"%s\"\n", argv[first]);
        return EXIT_USAGE;
    }
    if (input == NULL) {
        fprintf(stderr, "lode aggregate: --input is required\n");
        return EXIT_USAGE;
    }
    if (!labeling_method_parse(method_name, &method)) {
        fprintf(stderr, "lode aggregate: unknown method \"%s\" (mv, onecoin, hds, ds, auto)\n",
                method_name);
        return EXIT_USAGE;
    }
    rc = read_input(input, &data, &len);
    if (rc != EXIT_OK)
        return rc;
    arena = arena_create(0);
    const char **schema = NULL;
    uint32_t schema_count = 0;
    if (labels != NULL) {
        char *copy = arena_strdup(arena, labels);
        schema = arena_calloc(arena, LODE_LABELING_LABELS_MAX + 1, sizeof *schema);
        for (char *save = NULL, *l = strtok_r(copy, ",", &save); l != NULL;
             l = strtok_r(NULL, ",", &save)) {
            if (schema_count == LODE_LABELING_LABELS_MAX + 1)
                break; /* the parser reports the overflow */
            schema[schema_count++] = l;
        }
        if (schema_count == 0) {
            fprintf(stderr, "lode aggregate: --labels names no label\n");
            rc = EXIT_USAGE;
            goto free_all;
        }
    }
    if (labeling_csv_parse_schema(data, len, schema, schema_count, arena, &table, &err) !=
        LODE_OK) {
        fprintf(stderr, "lode aggregate: %s: %s\n", input, err.message);
        rc = err.code == LODE_ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
        goto free_all;
    }
    free(data);
    data = NULL;

    labeling_options_init(&opts);
    opts.method = method;
    opts.seed = (uint64_t)seed;
    /* a file where everyone gave the same single label still needs two classes */
    struct labeling_problem problem = {table.answers, table.answer_count, NULL, 0,
                                       table.task_count, table.worker_count,
                                       table.label_count < 2 ? 2 : table.label_count};
    if (labeling_aggregate(&problem, &opts, arena, &result, &err) != LODE_OK) {
        fprintf(stderr, "lode aggregate: could not aggregate: %s\n", err.message);
        rc = err.code == LODE_ENOMEM ? EXIT_RUNTIME : EXIT_USAGE;
        goto free_all;
    }
    fputs("task,label,confidence\n", stdout);
    for (uint32_t t = 0; t < table.task_count; t++) {
        if (result.label[t] >= table.label_count) { /* every task has an answer: a bug */
            fprintf(stderr, "lode aggregate: no consensus for task %u\n", t);
            rc = EXIT_RUNTIME;
            goto free_all;
        }
        put_field(table.task_names[t], stdout);
        fputc(',', stdout);
        put_field(table.label_names[result.label[t]], stdout);
        printf(",%.6f\n", result.confidence[t]);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "lode aggregate: could not write the output: %s\n", strerror(errno));
        rc = EXIT_RUNTIME;
        goto free_all;
    }
    if (workers_path != NULL) {
        FILE *w = fopen(workers_path, "w");
        if (w == NULL) {
            fprintf(stderr, "lode aggregate: could not create \"%s\": %s\n", workers_path,
                    strerror(errno));
            rc = EXIT_RUNTIME;
            goto free_all;
        }
        fputs("worker,answers,agreement,accuracy,accuracy_low90,accuracy_high90\n", w);
        for (uint32_t v = 0; v < table.worker_count; v++) {
            const struct labeling_quality *q = &result.workers[v];
            put_field(table.worker_names[v], w);
            fprintf(w, ",%u,%.6f,%.6f,%.6f,%.6f\n", q->answers, q->agreement, q->model_mean,
                    q->model_low, q->model_high);
        }
        if (fclose(w) != 0) {
            fprintf(stderr, "lode aggregate: could not write \"%s\"\n", workers_path);
            rc = EXIT_RUNTIME;
            goto free_all;
        }
    }
    fprintf(stderr,
            "lode aggregate: %zu rows, %zu repeated (task, worker) rows replaced by the later "
            "one, %u tasks, %u workers, %u labels, method %s\n",
            table.row_count, table.duplicate_count, table.task_count, table.worker_count,
            table.label_count, labeling_method_name(result.method));

free_all:
    arena_destroy(arena);
    free(data);
    return rc;
}
