/*
 * cli/cmd_detect.c — `lode detect`: score the texts of a JSONL file with the detector.
 *
 * Writes one JSON object per input line, in order, to standard output:
 * {"index": i, "score": p|null, "verdict": "human|synthetic|uncertain|insufficient",
 *  "reasons": [...]}, where p is the probability that the text is machine-generated and the
 * reasons are the verdict's reason followed by the strongest evidence with its signed
 * contribution to the log-odds. A line that is not a JSON object with a string field answers
 * `insufficient` with the reason, and the command then exits 2 after the last line.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/json.h"
#include "core/limits.h"
#include "core/options.h"
#include "detector/detector.h"

static json_t *result_json(size_t index, const struct detector_result *r, const char *failure)
{
    json_t *reasons = json_array();
    if (failure != NULL) {
        json_array_append_new(reasons, json_string(failure));
        return json_pack("{s:I,s:n,s:s,s:o}", "index", (json_int_t)index, "score", "verdict",
                         "insufficient", "reasons", reasons);
    }
    json_array_append_new(reasons, json_string(r->reason));
    if (r->truncated)
        json_array_append_new(reasons, json_string("only the beginning of the text was scored"));
    if (r->lines_left_out > 0) {
        char line[128];
        snprintf(line, sizeof line,
                 "%zu line%s that look%s like program output or a table %s not scored",
                 r->lines_left_out, r->lines_left_out == 1 ? "" : "s",
                 r->lines_left_out == 1 ? "s" : "", r->lines_left_out == 1 ? "was" : "were");
        json_array_append_new(reasons, json_string(line));
    }
    for (size_t i = 0; i < r->evidence_count; i++) {
        char line[DETECTOR_REASON_MAX + 32];
        snprintf(line, sizeof line, "%s (%+.2f)", r->evidence[i].explanation,
                 r->evidence[i].contribution);
        json_array_append_new(reasons, json_string(line));
    }
    return json_pack("{s:I,s:o,s:s,s:o}", "index", (json_int_t)index, "score",
                     r->has_probability ? json_real(r->probability) : json_null(), "verdict",
                     detector_verdict_name(r->verdict), "reasons", reasons);
}

int cmd_detect(int argc, char **argv)
{
    const char *input = NULL, *field = NULL, *model_path = NULL;
    const struct option_spec options[] = {
        {"input", OPTION_STRING, &input, "-", "JSONL file to score (- for standard input)", 0, 0},
        {"field", OPTION_STRING, &field, "text", "name of the field holding the text", 0, 0},
        {"model", OPTION_STRING, &model_path, NULL,
         "detector model file (default: LODE_DETECTOR_MODEL, else the shipped model)", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "detect", "Score texts for how likely they are machine-generated.",
        "Reads JSONL, writes one {\"index\", \"score\", \"verdict\", \"reasons\"} object per line.",
        options, NULL};
    int first = 0, rc = EXIT_OK;
    char path[4096];
    struct lode_error err;
    struct detector_model *model = NULL;
    FILE *in;
    char *line = NULL;
    size_t cap = 0, index = 0;
    ssize_t n;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (first < argc) {
        fprintf(stderr, "lode detect: unexpected argument \"%s\"\n", argv[first]);
        return EXIT_USAGE;
    }
    if (model_path == NULL || model_path[0] == '\0')
        model_path = getenv("LODE_DETECTOR_MODEL");
    if (detector_model_locate(model_path, path, sizeof path, &err) != LODE_OK ||
        detector_model_load(path, &model, &err) != LODE_OK) {
        fprintf(stderr, "lode detect: %s\n", err.message);
        return err.code == LODE_EINVAL || err.code == LODE_ENOTFOUND ? EXIT_USAGE : EXIT_RUNTIME;
    }
    in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (in == NULL) {
        fprintf(stderr, "lode detect: could not open \"%s\": %s\n", input, strerror(errno));
        detector_model_free(model);
        return EXIT_USAGE;
    }
    while ((n = getline(&line, &cap, in)) >= 0) {
        size_t len = (size_t)n;
        json_t *obj, *out;
        const char *failure = NULL;
        struct detector_result r;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        obj = json_body_parse(line, len, LODE_DETECTOR_LINE_BYTES_MAX, LODE_JSON_DEPTH_MAX, &err);
        const json_t *text = json_object_get(obj, field);
        if (obj == NULL) {
            failure = "could not parse the line as JSON";
        } else if (!json_is_string(text)) {
            failure = "the line has no string field of that name";
        } else if (detector_score(model, json_string_value(text), json_string_length(text), &r,
                                  &err) != LODE_OK) {
            failure = err.message;
        }
        if (failure != NULL)
            rc = EXIT_USAGE;
        out = result_json(index++, &r, failure);
        json_decref(obj);
        char *s = out != NULL ? json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        json_decref(out);
        if (s == NULL) {
            rc = EXIT_RUNTIME;
            break;
        }
        puts(s);
        free(s);
    }
    if (ferror(in)) {
        fprintf(stderr, "lode detect: could not read \"%s\"\n", input);
        rc = EXIT_RUNTIME;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    detector_model_free(model);
    return rc;
}
