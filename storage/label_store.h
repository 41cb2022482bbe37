/*
 * storage/label_store.h — labeling tasks, their gold answers and the labels people submit.
 *
 * What. A task asks for labels of one kind on the accepted items of one dataset: single_choice
 * (one of K named classes), multi_label (a set of K <= 64 named classes, possibly empty) or
 * rating (a number min + k * step within [min, max]). Each item wants `overlap` labels, and an
 * item whose labels disagree (for single_choice: the most voted class holds less than
 * LABEL_REQUEUE_AGREEMENT of them; for the other kinds: the most frequent value, set or rating,
 * does) is offered again up to `max_overlap`. Gold items have a known answer; they are offered
 * to every labeler once and clamped in the aggregation. A labeler labels an item of a task at
 * most once (labels_once_per_labeler). /next leases the item it offers to its labeler for the
 * task's lease_seconds: a live lease counts toward the item's overlap like a label, and
 * label_next() serialises on a per-task advisory lock, so concurrent callers never push an item
 * past its overlap (or max_overlap when re-queued). A task that pays per label leases only what
 * its budget (the money journal's TASK account, storage/money_store.h) can pay; paying the
 * label itself is the caller's, in the label's transaction.
 *
 * Invariants. Class names are 1..LODE_LABEL_CLASS_BYTES_MAX bytes without control characters
 * and distinct; the api module checks them and the rating grid before label_task_create.
 * Labels and gold store the value of their kind (class index, class bit set, or the rating in
 * its canonical form: label_rating_canonical()). Every label row names the ledger_queue row of
 * its label.submitted entry, which the caller enqueues in the same transaction
 * (storage/ledger_store.h).
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
#include "core/limits.h"
#include "storage/db.h"

/* An item with labels whose top class holds less than this share is re-queued (adaptive
 * overlap) until it has max_overlap labels. */
#define LABEL_REQUEUE_AGREEMENT 0.7

#define LABEL_NONCE_BYTES 16
#define LABEL_LEASE_SECONDS_DEFAULT 600
#define LABEL_LEASE_SECONDS_MIN 10
#define LABEL_LEASE_SECONDS_MAX LODE_LABEL_LEASE_SECONDS_MAX
#define LABEL_RATING_TEXT_BYTES 32     /* canonical text of a rating, with its NUL */

enum label_kind {
    LABEL_KIND_SINGLE_CHOICE = 0,
    LABEL_KIND_MULTI_LABEL,
    LABEL_KIND_RATING,
};

/* One label or gold answer; the field of the task's kind is meaningful. */
struct label_value {
    uint32_t class_index; /* single_choice */
    uint64_t class_set;   /* multi_label: bit k = class k */
    double rating;        /* rating, canonical (label_rating_canonical) */
};

struct label_task {
    int64_t id;
    enum label_kind kind;
    double rating_min, rating_max, rating_step; /* rating tasks */
    int lease_seconds;
    int64_t dataset_id;
    int64_t creator_id;
    int64_t owner_id; /* the dataset's owner */
    const char **classes; /* [class_count] */
    uint32_t class_count;
    const char *instructions;
    int overlap;
    int max_overlap;
    int64_t pay_per_label; /* minor units of currency, paid from the task's budget */
    int64_t budget;        /* label_task_get: the TASK money account's balance in currency */
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
    uint64_t *answer_set;  /* [answer_count] multi_label */
    double *answer_rating; /* [answer_count] rating */
    size_t answer_count;
    uint32_t *gold_item, *gold_class; /* [gold_count] */
    uint64_t *gold_set;
    double *gold_rating;
    size_t gold_count;
    int64_t last_label_id; /* the highest label id loaded, 0 without labels */
};

/* "single_choice", "multi_label", "rating", and the inverse (false when unknown). */
const char *label_kind_name(enum label_kind kind);
bool label_kind_parse(const char *name, enum label_kind *kind_out);

/* Whether value lies on the rating grid of the task (min + k * step, within [min, max], up to
 * a relative 1e-9 of a step); writes the canonical value, the grid point printed with 15
 * significant digits ("%.15g") and read back, and that text. Two ratings are the same label
 * exactly when their canonical texts are equal. */
bool label_rating_canonical(const struct label_task *task, double value, double *canonical_out,
                            char text_out[LABEL_RATING_TEXT_BYTES]);

/* Creates a task on a dataset the actor owns (or any dataset for an operator); fills task->id,
 * creator_id, owner_id and created_at_ms. LODE_OK, LODE_ENOTFOUND (no such dataset),
 * LODE_EFORBIDDEN (not the owner), LODE_EUNPROCESSABLE (a constraint of the table; the api
 * checks them first). */
enum lode_code label_task_create(struct db_conn *conn, int64_t actor_id, bool operator,
                                 struct label_task *task, struct lode_error *err);

/* One task with its statistics. LODE_OK, LODE_ENOTFOUND. */
enum lode_code label_task_get(struct db_conn *conn, int64_t id, struct arena *arena,
                              struct label_task *out, struct lode_error *err);

/* Sets (or replaces) the gold answer of items of a task, in the caller's transaction. Every item
 * must be an accepted item of the task's dataset and every value valid for the task's kind
 * (class below the count, set within the classes, rating on the grid).
 * LODE_OK, LODE_ENOTFOUND (no task), LODE_EFORBIDDEN (not the owner or an operator),
 * LODE_EUNPROCESSABLE (an item not in the task; err->pointer names its index), LODE_EINVAL. */
enum lode_code label_gold_set(struct db_conn *conn, int64_t task_id, int64_t actor_id,
                              bool operator, const int64_t *items,
                              const struct label_value *values, size_t count,
                              struct lode_error *err);

/* The next item for a labeler, leased to them for the task's lease_seconds, in a transaction of
 * its own holding the task's advisory lock: the item of the labeler's live lease if they hold
 * one; else one they have not labeled: a gold one when want_gold and one is left, otherwise an
 * item whose labels plus others' live leases are short of its overlap (or disagreed on and
 * short of max_overlap), fewest first; then any gold item left. *found_out false: nothing
 * left. A task that pays per label leases a new item only while its budget pays one label
 * more than the other labelers' live leases (each may become a paid label); otherwise
 * *found_out is false and *unaffordable_out (may be NULL) true.
 * LODE_OK, LODE_ENOTFOUND (no task), LODE_EUNAVAIL. */
enum lode_code label_next(struct db_conn *conn, int64_t task_id, int64_t labeler_id,
                          bool want_gold, struct label_offer *out, bool *found_out,
                          bool *unaffordable_out, struct lode_error *err);

/* The task's budget and the part of it no live lease reserves (budget - live leases x pay, at
 * least 0): what may leave the budget now. Takes label_next's lock in the caller's
 * transaction, so no lease can be handed out between this answer and the posting after it. */
enum lode_code label_budget_free(struct db_conn *conn, const struct label_task *task,
                                 int64_t *budget_out, int64_t *free_out, struct lode_error *err);

/* Whether item_id is an accepted item of the task's dataset, with its SHA-256 (hex).
 * LODE_OK, LODE_EUNPROCESSABLE (not in the task). */
enum lode_code label_item_check(struct db_conn *conn, const struct label_task *task,
                                int64_t item_id, char sha256_out[65], struct lode_error *err);

/* Inserts a label of the task's kind (in the caller's transaction, with the nonce of its ledger
 * commitment and its ledger entry's queue id) and releases the labeler's lease on the item.
 * A paid label without the labeler's live lease on the item may spend only budget no other
 * labeler's live lease holds (taken under label_next's lock).
 * LODE_OK, LODE_ECONFLICT (this labeler already labeled the item; or "task budget exhausted"). */
enum lode_code label_insert(struct db_conn *conn, const struct label_task *task, int64_t item_id,
                            int64_t labeler_id, const struct label_value *value,
                            const uint8_t nonce[LABEL_NONCE_BYTES], int64_t queue_id,
                            int64_t *label_id_out, int64_t *created_at_ms_out,
                            struct lode_error *err);

/* Loads every label and gold answer of a task (at most LODE_LABEL_TASK_ANSWERS_MAX labels).
 * LODE_OK, LODE_ETOOBIG, LODE_ENOMEM (arena budget). */
enum lode_code label_answers_load(struct db_conn *conn, const struct label_task *task,
                                  struct arena *arena, struct label_answers *out,
                                  struct lode_error *err);

#endif
