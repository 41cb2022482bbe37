/*
 * tests/unit/labeling/crowd_sets.h — readers for the public crowd sets in ../shared/data/crowd
 * (TSV with header, flow-style YAML maps, headerless CSV), for tests and benchmarks only.
 *
 * Every reader maps names to dense ids in first-appearance order, applies the product's
 * duplicate rule (the last (task, worker) answer wins) and records the gold label per task.
 */
#ifndef LODE_TESTS_CROWD_SETS_H
#define LODE_TESTS_CROWD_SETS_H

#include <stddef.h>
#include <stdint.h>

#include "labeling/labeling.h"

struct crowd_set {
    char name[64];
    struct labeling_answer *answers;
    size_t answer_count;
    size_t duplicate_count;
    uint32_t item_count, worker_count, label_count;
    uint32_t *gold; /* [item] true label or LABELING_NONE */
    double *gold_value; /* [item] numeric gold (snow numeric sets), NaN otherwise */
    double *value;      /* [answer] numeric response (snow sets), NaN when not a number */
};

/* Reads one set: kind "snow" (path = .tsv), "bluebirds" (path = folder), "act" (path = .csv).
 * Returns 0 on success, -1 with a message on stderr. */
int crowd_set_load(const char *kind, const char *path, const char *name, struct crowd_set *out);
void crowd_set_free(struct crowd_set *set);

#endif
