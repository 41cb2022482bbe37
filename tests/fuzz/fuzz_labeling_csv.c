/*
 * tests/fuzz/fuzz_labeling_csv.c — the answers CSV reader (with and without a label schema),
 * and the engine on whatever it accepts: every method, Krippendorff's alpha, and the
 * invariants of a result.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "labeling/labeling.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *arena = arena_create(64u << 20);
    struct labeling_table t;
    struct lode_error err = {0};

    if (labeling_csv_parse((const char *)data, size, arena, &t, &err) == LODE_OK) {
        struct labeling_problem p = {t.answers, t.answer_count, NULL, 0, t.task_count,
                                     t.worker_count, t.label_count < 2 ? 2 : t.label_count};
        if (t.answer_count == 0 || t.task_count == 0 || t.answer_count > t.row_count)
            abort();
        for (int m = 0; m <= LABELING_METHOD_AUTO; m++) {
            struct labeling_options o;
            struct labeling_result r;
            labeling_options_init(&o);
            o.method = (enum labeling_method)m;
            o.iterations_max = 20;
            o.folds = 2;
            if (labeling_aggregate(&p, &o, arena, &r, &err) != LODE_OK)
                continue; /* only the arena budget may refuse */
            for (uint32_t i = 0; i < t.task_count; i++) {
                /* every task in the file has an answer, so a label and a sane confidence */
                if (r.label[i] >= t.label_count || !(r.confidence[i] > 0 && r.confidence[i] <= 1))
                    abort();
            }
        }
        double alpha;
        labeling_alpha_nominal(t.answers, t.answer_count, t.task_count, p.label_count, arena,
                               &alpha, &err);
        if (!isnan(alpha) && alpha > 1.0 + 1e-9)
            abort();
    }
    /* the same bytes against a fixed schema: ids must stay inside it */
    static const char *const schema[] = {"a", "b", "c"};
    if (labeling_csv_parse_schema((const char *)data, size, schema, 3, arena, &t, &err) ==
        LODE_OK) {
        if (t.label_count != 3)
            abort();
        for (size_t i = 0; i < t.answer_count; i++)
            if (t.answers[i].label >= 3)
                abort();
    }
    arena_destroy(arena);
    return 0;
}
