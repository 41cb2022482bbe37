/*
 * storage/dataset_store.h — datasets: an owner, a description, and the policy that decides what
 * happens to the items contributed to them.
 *
 * Policy: an exact duplicate (same normalised text, or same bytes for a file) and a near
 * duplicate (verified Jaccard similarity at or above near_threshold) are each rejected (the
 * upload fails with 409 and nothing is written), quarantined (stored, marked quarantined) or
 * accepted (stored, marked with what it duplicates). Duplicates are looked for in the same
 * dataset, or in every dataset (scope global). Signatures are required or optional. A text the
 * synthetic-data detector calls synthetic is rejected, quarantined or accepted with a flag
 * (synthetic_action), and an upload may not push the dataset's flagged fraction past
 * max_synthetic_fraction when one is set (see storage/item_store.h).
 *
 * Invariants: near_threshold is within [DATASET_NEAR_THRESHOLD_MIN, 1] (the persistent band
 * index is tuned for that floor); names are 1 to 200 bytes; descriptions at most
 * LODE_DATASET_DESCRIPTION_BYTES_MAX bytes; neither has control characters except that a
 * description may hold line breaks and tabs.
 *
 * All functions run on the caller's connection and thread; results are copied into caller
 * structures.
 */
#ifndef LODE_STORAGE_DATASET_STORE_H
#define LODE_STORAGE_DATASET_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/limits.h"
#include "storage/db.h"

#define DATASET_NEAR_THRESHOLD_MIN 0.7
#define DATASET_NAME_BYTES (LODE_NAME_BYTES_MAX + 1)
#define DATASET_DESCRIPTION_BYTES (LODE_DATASET_DESCRIPTION_BYTES_MAX + 1)
#define DATASET_LIST_LIMIT_MAX 1000

enum dataset_action {
    DATASET_REJECT = 1,
    DATASET_QUARANTINE = 2,
    DATASET_ACCEPT = 3,
};

enum dataset_scope {
    DATASET_SCOPE_DATASET = 1,
    DATASET_SCOPE_GLOBAL = 2,
};

struct dataset_policy {
    enum dataset_action exact_action;
    enum dataset_action near_action;
    double near_threshold;
    enum dataset_scope scope;
    bool signatures_required;
    enum dataset_action synthetic_action;
    bool has_max_synthetic;        /* false: no maximum */
    double max_synthetic_fraction; /* within [0, 1] when has_max_synthetic */
};

struct dataset {
    int64_t id;
    int64_t owner_id;
    char name[DATASET_NAME_BYTES];
    char description[DATASET_DESCRIPTION_BYTES];
    struct dataset_policy policy;
    int64_t created_at_ms;
    int64_t updated_at_ms;
};

/* The defaults: exact reject, near quarantine, threshold DEDUPE_THRESHOLD_DEFAULT, scope
 * dataset, signatures optional, synthetic quarantine, no maximum synthetic fraction. */
void dataset_policy_default(struct dataset_policy *out);

/* "reject" / "quarantine" / "accept" and back; parse returns 0 for an unknown name. */
const char *dataset_action_name(enum dataset_action action);
enum dataset_action dataset_action_parse(const char *name);
/* "dataset" / "global" and back; parse returns 0 for an unknown name. */
const char *dataset_scope_name(enum dataset_scope scope);
enum dataset_scope dataset_scope_parse(const char *name);

/* Checks a policy's ranges. Returns LODE_OK or LODE_EINVAL (pointer names the field). */
enum lode_code dataset_policy_check(const struct dataset_policy *policy, struct lode_error *err);

/* Creates a dataset owned by owner_id; description may be NULL. Returns LODE_OK, LODE_EINVAL
 * (name, description or policy), LODE_ENOTFOUND (no such owner), or the mapped error. */
enum lode_code dataset_create(struct db_conn *conn, int64_t owner_id, const char *name,
                              const char *description, const struct dataset_policy *policy,
                              struct dataset *out, struct lode_error *err);

/* One dataset; with lock_share, the row is locked FOR SHARE until the caller's transaction
 * ends (a contribution reads a policy no update can change under it).
 * Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code dataset_get(struct db_conn *conn, int64_t id, bool lock_share, struct dataset *out,
                           struct lode_error *err);

/* Datasets with id > after_id, ascending, of one owner (owner_id > 0) or all (0), at most
 * limit (1 to DATASET_LIST_LIMIT_MAX) written to out. Returns LODE_OK or LODE_EINVAL. */
enum lode_code dataset_list(struct db_conn *conn, int64_t owner_id, int64_t after_id, int limit,
                            struct dataset *out, int *count_out, struct lode_error *err);

/* A partial policy: zero members (and signatures_required < 0) are left unchanged. */
struct dataset_policy_patch {
    enum dataset_action exact_action;
    enum dataset_action near_action;
    double near_threshold;
    enum dataset_scope scope;
    int signatures_required; /* -1 unchanged, 0 optional, 1 required */
    enum dataset_action synthetic_action;
    int max_synthetic; /* 0 unchanged, 1 set to max_synthetic_fraction, -1 remove the maximum */
    double max_synthetic_fraction;
};

/* Updates the description (NULL = unchanged) and the policy members the patch sets (patch may
 * be NULL) when the actor owns the dataset or is an operator. Returns LODE_OK, LODE_EINVAL,
 * LODE_ENOTFOUND, LODE_EFORBIDDEN, or the mapped error. */
enum lode_code dataset_update(struct db_conn *conn, int64_t id, int64_t actor_id,
                              bool actor_is_operator, const char *description,
                              const struct dataset_policy_patch *patch, struct dataset *out,
                              struct lode_error *err);

/* Items stored in a dataset (accepted or quarantined) and those flagged synthetic among them.
 * Returns LODE_OK or the mapped error. */
enum lode_code dataset_stats(struct db_conn *conn, int64_t id, int64_t *items_out,
                             int64_t *flagged_out, struct lode_error *err);

#endif
