/*
 * tests/fuzz/fuzz_api_label_values.c — label schemas and label values of every task kind
 * (api/label_kinds.h) on arbitrary JSON {"schema": ..., "labels": [...]}: the schema reader,
 * the value reader, both renderings (the canonical one must always encode), then the
 * consensus and agreement of whatever parsed (items i % 3, one labeler per label, the first
 * valid label as gold of item 0) with their rows, snapshot leaves and per-labeler objects.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/label_kinds.h"
#include "core/json.h"
#include "core/limits.h"

#define LABELS_MAX 64
#define ITEMS 3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int64_t item_ids[ITEMS] = {1, 2, 3};
    static int64_t labeler_ids[LABELS_MAX];
    struct lode_error err;
    struct label_task task;
    struct label_answers a;
    struct label_kinds_result r;
    struct label_value values[LABELS_MAX];
    uint32_t ai[LABELS_MAX], aw[LABELS_MAX], ac[LABELS_MAX], gi[1] = {0}, gc[1];
    uint64_t as[LABELS_MAX], gs[1];
    double ar[LABELS_MAX], gr[1];
    struct arena *arena;
    json_t *v, *labels;
    size_t n = 0;

    v = json_body_parse((const char *)data, size, 16384, LODE_JSON_DEPTH_MAX, &err);
    if (v == NULL)
        return 0;
    arena = arena_create(16u << 20);
    memset(&task, 0, sizeof task);
    task.id = 1;
    if (arena == NULL || !label_schema_parse(arena, json_object_get(v, "schema"), &task, &err))
        goto done;
    json_decref(label_schema_json(&task));
    labels = json_object_get(v, "labels");
    for (size_t i = 0; json_is_array(labels) && i < json_array_size(labels) && n < LABELS_MAX;
         i++) {
        json_t *out, *canonical;
        char *text;
        if (!label_value_parse(&task, json_array_get(labels, i), "/label", &values[n], &err))
            continue;
        out = label_value_json(&task, &values[n]);
        canonical = label_value_canonical(&task, &values[n]);
        text = canonical != NULL ? json_canonical_dump(canonical, NULL) : NULL;
        if (out == NULL || text == NULL)
            abort(); /* a valid label always renders, and its canonical form always encodes */
        free(text);
        json_decref(out);
        json_decref(canonical);
        n++;
    }
    if (task.kind == LABEL_KIND_SINGLE_CHOICE)
        goto done; /* single_choice aggregation is labeling/'s, fuzzed by fuzz_labeling_csv */
    memset(&a, 0, sizeof a);
    for (size_t i = 0; i < n; i++) {
        labeler_ids[i] = (int64_t)i + 1;
        ai[i] = (uint32_t)(i % ITEMS);
        aw[i] = (uint32_t)i;
        ac[i] = 0;
        as[i] = values[i].class_set;
        ar[i] = values[i].rating;
    }
    a.item_ids = item_ids;
    a.item_count = ITEMS;
    a.labeler_ids = labeler_ids;
    a.labeler_count = (uint32_t)n;
    a.answer_item = ai;
    a.answer_labeler = aw;
    a.answer_class = ac;
    a.answer_set = as;
    a.answer_rating = ar;
    a.answer_count = n;
    if (n > 0) {
        gc[0] = 0;
        gs[0] = values[0].class_set;
        gr[0] = values[0].rating;
        a.gold_item = gi;
        a.gold_class = gc;
        a.gold_set = gs;
        a.gold_rating = gr;
        a.gold_count = 1;
    }
    if (label_kinds_aggregate(&task, &a, n % 2 ? "mv" : NULL, 7, arena, &r, &err) == LODE_OK) {
        bool aggregated = n > 0;
        for (uint32_t i = 0; i < ITEMS; i++) {
            json_t *leaf = label_kinds_leaf(&task, &a, &r, aggregated, i);
            char *text = leaf != NULL ? json_canonical_dump(leaf, NULL) : NULL;
            if (text == NULL)
                abort(); /* snapshot leaves never hold floats */
            free(text);
            json_decref(leaf);
            json_decref(label_kinds_row(&task, &a, &r, aggregated, i, i == 0));
        }
        if (aggregated)
            json_decref(label_kinds_labelers(&task, &a, &r));
    }
done:
    arena_destroy(arena);
    json_decref(v);
    return 0;
}
