/*
 * storage/dataset_store.c — datasets and their duplicate policy.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe/dedupe.h"
#include "storage/dataset_store.h"
#include "storage/db_internal.h"

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
#define DATASET_COLUMNS                                                                            \
    "id, owner_id, name, description, exact_action, near_action, near_threshold, dedupe_scope, "   \
    "signatures, " MS("created_at") ", " MS("updated_at") ", synthetic_action, "                   \
                                                          "max_synthetic_fraction"

static const char *const action_names[] = {NULL, "reject", "quarantine", "accept"};
static const char *const scope_names[] = {NULL, "dataset", "global"};

void dataset_policy_default(struct dataset_policy *out)
{
    out->exact_action = DATASET_REJECT;
    out->near_action = DATASET_QUARANTINE;
    out->near_threshold = DEDUPE_THRESHOLD_DEFAULT;
    out->scope = DATASET_SCOPE_DATASET;
    out->signatures_required = false;
    out->synthetic_action = DATASET_QUARANTINE;
    out->has_max_synthetic = false;
    out->max_synthetic_fraction = 0.0;
}

const char *dataset_action_name(enum dataset_action action)
{
    return action >= DATASET_REJECT && action <= DATASET_ACCEPT ? action_names[action] : NULL;
}

enum dataset_action dataset_action_parse(const char *name)
{
    for (int i = DATASET_REJECT; name != NULL && i <= DATASET_ACCEPT; i++)
        if (strcmp(name, action_names[i]) == 0)
            return (enum dataset_action)i;
    return 0;
}

const char *dataset_scope_name(enum dataset_scope scope)
{
    return scope >= DATASET_SCOPE_DATASET && scope <= DATASET_SCOPE_GLOBAL ? scope_names[scope]
                                                                           : NULL;
}

enum dataset_scope dataset_scope_parse(const char *name)
{
    for (int i = DATASET_SCOPE_DATASET; name != NULL && i <= DATASET_SCOPE_GLOBAL; i++)
        if (strcmp(name, scope_names[i]) == 0)
            return (enum dataset_scope)i;
    return 0;
}

enum lode_code dataset_policy_check(const struct dataset_policy *policy, struct lode_error *err)
{
    if (dataset_action_name(policy->exact_action) == NULL) {
        lode_error_set(err, LODE_EINVAL, "exact_duplicate must be reject, quarantine or accept");
        lode_error_pointer(err, "/policy/exact_duplicate");
        return err->code;
    }
    if (dataset_action_name(policy->near_action) == NULL) {
        lode_error_set(err, LODE_EINVAL, "near_duplicate must be reject, quarantine or accept");
        lode_error_pointer(err, "/policy/near_duplicate");
        return err->code;
    }
    if (!(policy->near_threshold >= DATASET_NEAR_THRESHOLD_MIN && policy->near_threshold <= 1.0)) {
        lode_error_set(err, LODE_EINVAL, "near_threshold must be from %.1f to 1",
                       DATASET_NEAR_THRESHOLD_MIN);
        lode_error_pointer(err, "/policy/near_threshold");
        return err->code;
    }
    if (dataset_scope_name(policy->scope) == NULL) {
        lode_error_set(err, LODE_EINVAL, "scope must be dataset or global");
        lode_error_pointer(err, "/policy/scope");
        return err->code;
    }
    if (dataset_action_name(policy->synthetic_action) == NULL) {
        lode_error_set(err, LODE_EINVAL, "synthetic must be reject, quarantine or accept");
        lode_error_pointer(err, "/policy/synthetic");
        return err->code;
    }
    if (policy->has_max_synthetic &&
        !(policy->max_synthetic_fraction >= 0.0 && policy->max_synthetic_fraction <= 1.0)) {
        lode_error_set(err, LODE_EINVAL, "max_synthetic_fraction must be from 0 to 1");
        lode_error_pointer(err, "/policy/max_synthetic_fraction");
        return err->code;
    }
    return LODE_OK;
}

/* No control characters; a description may also hold tabs and line breaks. */
static bool text_is_valid(const char *s, size_t max, bool multiline)
{
    size_t n = strlen(s);

    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
            return false;
    }
    return true;
}

static enum lode_code check_texts(const char *name, const char *description, struct lode_error *err)
{
    if (name != NULL && (name[0] == '\0' || !text_is_valid(name, LODE_NAME_BYTES_MAX, false))) {
        lode_error_set(err, LODE_EINVAL,
                       "name must be 1 to %d bytes of text without "
                       "control characters",
                       LODE_NAME_BYTES_MAX);
        lode_error_pointer(err, "/name");
        return err->code;
    }
    if (description != NULL &&
        !text_is_valid(description, LODE_DATASET_DESCRIPTION_BYTES_MAX, true)) {
        lode_error_set(err, LODE_EINVAL,
                       "description must be at most %d bytes of text "
                       "without control characters other than line "
                       "breaks and tabs",
                       LODE_DATASET_DESCRIPTION_BYTES_MAX);
        lode_error_pointer(err, "/description");
        return err->code;
    }
    return LODE_OK;
}

static void dataset_read(const PGresult *res, int row, struct dataset *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_result_int64(res, row, 0);
    out->owner_id = db_result_int64(res, row, 1);
    db_result_text(res, row, 2, out->name, sizeof out->name);
    db_result_text(res, row, 3, out->description, sizeof out->description);
    out->policy.exact_action = dataset_action_parse(PQgetvalue(res, row, 4));
    out->policy.near_action = dataset_action_parse(PQgetvalue(res, row, 5));
    out->policy.near_threshold = strtod(PQgetvalue(res, row, 6), NULL);
    out->policy.scope = dataset_scope_parse(PQgetvalue(res, row, 7));
    out->policy.signatures_required = strcmp(PQgetvalue(res, row, 8), "required") == 0;
    out->created_at_ms = db_result_int64(res, row, 9);
    out->updated_at_ms = db_result_int64(res, row, 10);
    out->policy.synthetic_action = dataset_action_parse(PQgetvalue(res, row, 11));
    out->policy.has_max_synthetic = !PQgetisnull(res, row, 12);
    out->policy.max_synthetic_fraction =
        out->policy.has_max_synthetic ? strtod(PQgetvalue(res, row, 12), NULL) : 0.0;
}

/* Appends the seven policy parameters. */
static void policy_params(struct db_params *p, const struct dataset_policy *policy,
                          char threshold[32], char max_synthetic[32])
{
    snprintf(threshold, 32, "%.17g", policy->near_threshold);
    snprintf(max_synthetic, 32, "%.17g", policy->max_synthetic_fraction);
    db_params_text(p, dataset_action_name(policy->exact_action));
    db_params_text(p, dataset_action_name(policy->near_action));
    db_params_text(p, threshold);
    db_params_text(p, dataset_scope_name(policy->scope));
    db_params_text(p, policy->signatures_required ? "required" : "optional");
    db_params_text(p, dataset_action_name(policy->synthetic_action));
    db_params_text(p, policy->has_max_synthetic ? max_synthetic : NULL);
}

enum lode_code dataset_create(struct db_conn *conn, int64_t owner_id, const char *name,
                              const char *description, const struct dataset_policy *policy,
                              struct dataset *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    char threshold[32], max_synthetic[32];
    enum lode_code rc;

    if (name == NULL)
        name = "";
    if (check_texts(name, description, err) != LODE_OK ||
        dataset_policy_check(policy, err) != LODE_OK)
        return err->code;
    db_params_init(&p);
    db_params_int64(&p, owner_id);
    db_params_text(&p, name);
    db_params_text(&p, description != NULL ? description : "");
    policy_params(&p, policy, threshold, max_synthetic);
    rc = db_query(conn,
                  "INSERT INTO datasets (owner_id, name, description, exact_action, near_action,"
                  " near_threshold, dedupe_scope, signatures, synthetic_action,"
                  " max_synthetic_fraction)"
                  " VALUES ($1, $2, $3, $4, $5, $6::double precision, $7, $8, $9,"
                  " $10::double precision)"
                  " RETURNING " DATASET_COLUMNS,
                  &p, &res, err);
    if (rc == LODE_ENOTFOUND ||
        (rc != LODE_OK && strcmp(err->constraint, "datasets_owner_fk") == 0))
        return lode_error_set(err, LODE_ENOTFOUND, "account %" PRId64 " does not exist", owner_id);
    if (rc != LODE_OK)
        return rc;
    dataset_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code dataset_get(struct db_conn *conn, int64_t id, bool lock_share, struct dataset *out,
                           struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn,
                  lock_share ? "SELECT " DATASET_COLUMNS " FROM datasets WHERE id = $1 FOR SHARE"
                             : "SELECT " DATASET_COLUMNS " FROM datasets WHERE id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        lode_error_set(err, LODE_ENOTFOUND, "dataset %" PRId64 " does not exist", id);
        lode_error_pointer(err, "id");
        return err->code;
    }
    dataset_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code dataset_list(struct db_conn *conn, int64_t owner_id, int64_t after_id, int limit,
                            struct dataset *out, int *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *count_out = 0;
    if (limit < 1 || limit > DATASET_LIST_LIMIT_MAX) {
        lode_error_set(err, LODE_EINVAL, "limit must be from 1 to %d", DATASET_LIST_LIMIT_MAX);
        lode_error_pointer(err, "limit");
        return err->code;
    }
    db_params_init(&p);
    db_params_int64(&p, after_id);
    db_params_int64(&p, limit);
    db_params_int64(&p, owner_id);
    rc = db_query(conn,
                  "SELECT " DATASET_COLUMNS " FROM datasets WHERE id > $1"
                  " AND ($3 = 0 OR owner_id = $3) ORDER BY id LIMIT $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res) < limit ? PQntuples(res) : limit;
    for (int i = 0; i < n; i++)
        dataset_read(res, i, &out[i]);
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code dataset_update(struct db_conn *conn, int64_t id, int64_t actor_id,
                              bool actor_is_operator, const char *description,
                              const struct dataset_policy_patch *patch, struct dataset *out,
                              struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    char threshold[32], max_synthetic[32];
    enum lode_code rc;
    struct dataset_policy check;
    struct dataset_policy_patch none = {.signatures_required = -1};

    if (patch == NULL)
        patch = &none;
    /* every member the patch sets must be valid on its own */
    dataset_policy_default(&check);
    if (patch->exact_action != 0)
        check.exact_action = patch->exact_action;
    if (patch->near_action != 0)
        check.near_action = patch->near_action;
    if (patch->near_threshold != 0.0)
        check.near_threshold = patch->near_threshold;
    if (patch->scope != 0)
        check.scope = patch->scope;
    if (patch->synthetic_action != 0)
        check.synthetic_action = patch->synthetic_action;
    if (patch->max_synthetic > 0) {
        check.has_max_synthetic = true;
        check.max_synthetic_fraction = patch->max_synthetic_fraction;
    }
    if (check_texts(NULL, description, err) != LODE_OK ||
        dataset_policy_check(&check, err) != LODE_OK)
        return err->code;
    db_params_init(&p);
    db_params_int64(&p, id);
    db_params_text(&p, actor_is_operator ? "true" : "false");
    db_params_int64(&p, actor_id);
    db_params_text(&p, description);
    snprintf(threshold, sizeof threshold, "%.17g", patch->near_threshold);
    db_params_text(&p, patch->exact_action != 0 ? dataset_action_name(patch->exact_action) : NULL);
    db_params_text(&p, patch->near_action != 0 ? dataset_action_name(patch->near_action) : NULL);
    db_params_text(&p, patch->near_threshold != 0.0 ? threshold : NULL);
    db_params_text(&p, patch->scope != 0 ? dataset_scope_name(patch->scope) : NULL);
    db_params_text(&p, patch->signatures_required < 0 ? NULL
                       : patch->signatures_required   ? "required"
                                                      : "optional");
    snprintf(max_synthetic, sizeof max_synthetic, "%.17g", patch->max_synthetic_fraction);
    db_params_text(&p, patch->synthetic_action != 0 ? dataset_action_name(patch->synthetic_action)
                                                    : NULL);
    db_params_text(&p, patch->max_synthetic > 0 ? max_synthetic : NULL);
    db_params_text(&p, patch->max_synthetic == 0 ? "keep" : "set");
    rc = db_query(conn,
                  "UPDATE datasets SET description = COALESCE($4, description),"
                  " exact_action = COALESCE($5, exact_action),"
                  " near_action = COALESCE($6, near_action),"
                  " near_threshold = COALESCE($7::double precision, near_threshold),"
                  " dedupe_scope = COALESCE($8, dedupe_scope),"
                  " signatures = COALESCE($9, signatures),"
                  " synthetic_action = COALESCE($10, synthetic_action),"
                  " max_synthetic_fraction = CASE WHEN $12 = 'keep' THEN max_synthetic_fraction"
                  " ELSE $11::double precision END, updated_at = now()"
                  " WHERE id = $1 AND ($2::boolean OR owner_id = $3) RETURNING " DATASET_COLUMNS,
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 1) {
        dataset_read(res, 0, out);
        PQclear(res);
        return LODE_OK;
    }
    PQclear(res);
    rc = dataset_get(conn, id, false, out, err);
    if (rc != LODE_OK)
        return rc;
    return lode_error_set(err, LODE_EFORBIDDEN,
                          "account %" PRId64 " may not change dataset %" PRId64
                          ": only its owner or an operator",
                          actor_id, id);
}

enum lode_code dataset_stats(struct db_conn *conn, int64_t id, int64_t *items_out,
                             int64_t *flagged_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn,
                  "SELECT count(*), count(*) FILTER (WHERE synthetic_flagged) FROM items"
                  " WHERE dataset_id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *items_out = db_result_int64(res, 0, 0);
    *flagged_out = db_result_int64(res, 0, 1);
    PQclear(res);
    return LODE_OK;
}
