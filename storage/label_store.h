/*
 * storage/label_store.h — labeling tasks, their gold answers and the labels people submit.
 *
 * What. A task asks for single-choice labels over K named classes on the accepted items of one
 * dataset; each item wants `overlap` labels, and an item whose labels disagree (the most voted
 * class holds less than LABEL_REQUEUE_AGREEMENT of them) is offered again up to `max_overlap`.
 * Gold items have a known class; they are offered to every labeler once and clamped in the
 * aggregation. A labeler labels an item of a task at most once (labels_once_per_labeler).
 *
 * Invariants. Class names are 1..LODE_LABEL_CLASS_BYTES_MAX bytes without control characters
 * and distinct; the api module checks them before label_task_create. Labels and gold store the
 * class index. Every label row names the ledger_queue row of its label.submitted entry, which
 * the caller enqueues in the same transaction (storage/ledger_store.h).
 *
 * Ownership. Strings and arrays in the outputs come from the caller's arena.
 * Threads. Every call runs on the caller's connection and thread.
 */
#ifndef LODE_STORAGE_LABEL_STORE_H
#define LODE_STORAGE_LABEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "storage/db.h"

/* An item with labels whose top class holds less than this share is re-queued (adaptive
 * overlap) until it has max_overlap labels. */
#define LABEL_REQUEUE_AGREEMENT 0.7

#define LABEL_NONCE_BYTES 16

struct label_task {
    int64_t id;
    int64_t dataset_id;
    int64_t creator_id;
    int64_t owner_id; /* the dataset's owner */
    const char **classes; /* [class_count] */
    uint32_t class_count;
    const char *instructions;
    int overlap;
    int max_overlap;
    int64_t pay_per_label; /* minor units of currency */
    char currency[4];
    double gold_share;
    int64_t created_at_ms;
    /* statistics (label_task_get) */
    int64_t item_count;  /* accepted items of the dataset */
    int64_t gold_count;
    int64_t label_count;
};

/* An item offered to a labeler: nothing that tells gold from the rest. */
struct label_offer {
    int64_t item_id;
    char sha256[65];
    char media_type[256];
};

/* All labels of a task as dense ids for labeling/: items are the dataset's accepted items by
 * ascending id, labelers the accounts that labeled, by ascending id. */
struct label_answers {
    int64_t *item_ids;    /* [item_count] */
    uint32_t item_count;
    int64_t *labeler_ids; /* [labeler_count] */
    uint32_t labeler_count;
    uint32_t *answer_item, *answer_labeler, *answer_class; /* [answer_count] */
    size_t answer_count;
    uint32_t *gold_item, *gold_class; /* [gold_count] */
    size_t gold_count;
    int64_t last_label_id; /* the highest label id loaded, 0 without labels */
};

/* Creates a task on a dataset the actor owns (or any dataset for an operator); fills task->id,
 * creator_id, owner_id and created_at_ms. LODE_OK, LODE_ENOTFOUND (no such dataset),
 * LODE_EFORBIDDEN (not the owner), LODE_EUNPROCESSABLE (a constraint of the table; the api
 * checks them first). */
enum lode_code label_task_create(struct db_conn *conn, int64_t actor_id, bool operator,
                                 struct label_task *task, struct lode_error *err);

/* One task with its statistics. LODE_OK, LODE_ENOTFOUND. */
enum lode_code label_task_get(struct db_conn *conn, int64_t id, struct arena *arena,
                              struct label_task *out, struct lode_error *err);

/* Sets (or replaces) the gold class of items of a task, in the caller's transaction. Every item
 * must be an accepted item of the task's dataset and every class below the task's count.
 * LODE_OK, LODE_ENOTFOUND (no task), LODE_EFORBIDDEN (not the owner or an operator),
 * LODE_EUNPROCESSABLE (an item not in the task; err->pointer names its index), LODE_EINVAL. */
enum lode_code label_gold_set(struct db_conn *conn, int64_t task_id, int64_t actor_id,
                              bool operator, const int64_t *items, const uint32_t *classes,
                              size_t count, struct lode_error *err);

/* The next item for a labeler: one they have not labeled; a gold one when want_gold and one
 * is left, otherwise an item short of its overlap (or disagreed on and short of max_overlap),
 * fewest labels first; then any gold item left. *found_out false: nothing left.
 * LODE_OK, LODE_ENOTFOUND (no task). */
enum lode_code label_next(struct db_conn *conn, int64_t task_id, int64_t labeler_id,
                          bool want_gold, struct label_offer *out, bool *found_out,
                          struct lode_error *err);

/* Whether item_id is an accepted item of the task's dataset, with its SHA-256 (hex).
 * LODE_OK, LODE_EUNPROCESSABLE (not in the task). */
enum lode_code label_item_check(struct db_conn *conn, const struct label_task *task,
                                int64_t item_id, char sha256_out[65], struct lode_error *err);

/* Inserts a label (in the caller's transaction, with the nonce of its ledger commitment and its
 * ledger entry's queue id). LODE_OK, LODE_ECONFLICT (this labeler already labeled the item). */
enum lode_code label_insert(struct db_conn *conn, int64_t task_id, int64_t item_id,
                            int64_t labeler_id, uint32_t class_index,
                            const uint8_t nonce[LABEL_NONCE_BYTES], int64_t queue_id,
                            int64_t *label_id_out, int64_t *created_at_ms_out,
                            struct lode_error *err);

/* Loads every label and gold answer of a task (at most LODE_LABEL_TASK_ANSWERS_MAX labels).
 * LODE_OK, LODE_ETOOBIG, LODE_ENOMEM (arena budget). */
enum lode_code label_answers_load(struct db_conn *conn, const struct label_task *task,
                                  struct arena *arena, struct label_answers *out,
                                  struct lode_error *err);

#endif
