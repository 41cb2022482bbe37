/*
 * api/datasets.c — datasets and their duplicate policy.
 *
 * Publishers and contributors create datasets and own them; every authenticated account may
 * read them; the owner or an operator may change the description and the policy. The policy
 * is an object: {"exact_duplicate", "near_duplicate": "reject" | "quarantine" | "accept",
 * "near_threshold": 0.7 .. 1, "scope": "dataset" | "global",
 * "signatures": "required" | "optional", "synthetic": "reject" | "quarantine" | "accept",
 * "max_synthetic_fraction": 0 .. 1 | null} (see docs/datasets.md). GET of one dataset adds its
 * statistics: items, flagged (synthetic) items and the synthetic fraction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/json.h"
#include "storage/dataset_store.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

struct datasets_call {
    int64_t id;
    int64_t owner_id;
    int64_t after_id;
    int limit;
    const char *name;
    const char *description;
    struct dataset_policy policy;
    struct dataset_policy_patch patch;
    int64_t stat_items;
    int64_t stat_flagged;
    bool has_patch;
    struct dataset dataset;
    struct dataset *datasets;
    int count;
};

static struct datasets_call *call_new(struct request *req)
{
    struct datasets_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

static json_t *policy_json(const struct dataset_policy *p)
{
    return json_pack("{s:s, s:s, s:f, s:s, s:s, s:s, s:o}", "exact_duplicate",
                     dataset_action_name(p->exact_action), "near_duplicate",
                     dataset_action_name(p->near_action), "near_threshold", p->near_threshold,
                     "scope", dataset_scope_name(p->scope), "signatures",
                     p->signatures_required ? "required" : "optional", "synthetic",
                     dataset_action_name(p->synthetic_action), "max_synthetic_fraction",
                     p->has_max_synthetic ? json_real(p->max_synthetic_fraction) : json_null());
}

static json_t *dataset_json(const struct dataset *d)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)d->id, "owner",
                     (json_int_t)d->owner_id, "name", d->name, "description", d->description,
                     "policy", policy_json(&d->policy), "created_at", json_time_ms(d->created_at_ms),
                     "updated_at", json_time_ms(d->updated_at_ms));
}

static void policy_pointer(struct lode_error *err, const char *name)
{
    char ptr[LODE_ERROR_NAME_MAX];
    snprintf(ptr, sizeof ptr, "/policy/%s", name);
    lode_error_pointer(err, ptr);
}

/* Reads an action member ("reject" ...); absent leaves *out. */
static bool action_member(const json_t *obj, const char *name, enum dataset_action *out,
                          struct lode_error *err)
{
    const char *v = NULL;

    if (json_get_string(obj, name, false, 32, &v, err) != LODE_OK) {
        policy_pointer(err, name);
        return false;
    }
    if (v == NULL)
        return true;
    *out = dataset_action_parse(v);
    if (*out != 0)
        return true;
    lode_error_set(err, LODE_EINVAL, "policy.%s must be reject, quarantine or accept", name);
    policy_pointer(err, name);
    return false;
}

/* Parses a policy object into a patch (members absent stay unchanged). */
static bool policy_parse(const json_t *obj, struct dataset_policy_patch *out,
                         struct lode_error *err)
{
    static const char *const fields[] = {
        "exact_duplicate", "near_duplicate", "near_threshold",         "scope",
        "signatures",      "synthetic",      "max_synthetic_fraction", NULL};
    const char *scope = NULL, *sigs = NULL;
    json_t *t;

    out->signatures_required = -1;
    if (!json_is_object(obj)) {
        lode_error_set(err, LODE_EINVAL, "field \"policy\" must be an object");
        lode_error_pointer(err, "/policy");
        return false;
    }
    if (json_object_check_fields(obj, fields, err) != LODE_OK) {
        lode_error_pointer(err, "/policy");
        return false;
    }
    if (!action_member(obj, "exact_duplicate", &out->exact_action, err) ||
        !action_member(obj, "near_duplicate", &out->near_action, err) ||
        !action_member(obj, "synthetic", &out->synthetic_action, err))
        return false;
    t = json_object_get(obj, "max_synthetic_fraction");
    if (json_is_null(t)) {
        out->max_synthetic = -1;
    } else if (t != NULL) {
        double v = json_is_number(t) ? json_number_value(t) : -1.0;
        if (!(v >= 0.0 && v <= 1.0)) {
            lode_error_set(err, LODE_EINVAL,
                           "policy.max_synthetic_fraction must be a number from 0 to 1, or null");
            policy_pointer(err, "max_synthetic_fraction");
            return false;
        }
        out->max_synthetic = 1;
        out->max_synthetic_fraction = v;
    }
    t = json_object_get(obj, "near_threshold");
    if (t != NULL) {
        double v = json_is_number(t) ? json_number_value(t) : -1.0;
        if (!(v >= DATASET_NEAR_THRESHOLD_MIN && v <= 1.0)) {
            lode_error_set(err, LODE_EINVAL,
                           "policy.near_threshold must be a number from %.1f "
                           "to 1",
                           DATASET_NEAR_THRESHOLD_MIN);
            policy_pointer(err, "near_threshold");
            return false;
        }
        out->near_threshold = v;
    }
    if (json_get_string(obj, "scope", false, 32, &scope, err) != LODE_OK) {
        policy_pointer(err, "scope");
        return false;
    }
    if (scope != NULL && (out->scope = dataset_scope_parse(scope)) == 0) {
        lode_error_set(err, LODE_EINVAL, "policy.scope must be dataset or global");
        policy_pointer(err, "scope");
        return false;
    }
    if (json_get_string(obj, "signatures", false, 32, &sigs, err) != LODE_OK) {
        policy_pointer(err, "signatures");
        return false;
    }
    if (sigs != NULL) {
        if (strcmp(sigs, "required") != 0 && strcmp(sigs, "optional") != 0) {
            lode_error_set(err, LODE_EINVAL, "policy.signatures must be required or optional");
            policy_pointer(err, "signatures");
            return false;
        }
        out->signatures_required = strcmp(sigs, "required") == 0;
    }
    return true;
}

static void patch_apply(const struct dataset_policy_patch *patch, struct dataset_policy *p)
{
    if (patch->exact_action != 0)
        p->exact_action = patch->exact_action;
    if (patch->near_action != 0)
        p->near_action = patch->near_action;
    if (patch->near_threshold != 0.0)
        p->near_threshold = patch->near_threshold;
    if (patch->scope != 0)
        p->scope = patch->scope;
    if (patch->signatures_required >= 0)
        p->signatures_required = patch->signatures_required != 0;
    if (patch->synthetic_action != 0)
        p->synthetic_action = patch->synthetic_action;
    if (patch->max_synthetic != 0) {
        p->has_max_synthetic = patch->max_synthetic > 0;
        p->max_synthetic_fraction = patch->max_synthetic > 0 ? patch->max_synthetic_fraction : 0.0;
    }
}

/* ---- POST /v1/datasets ---- */

static enum lode_code run_create(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct datasets_call *call = req->user;
    return dataset_create(conn, req->principal.account_id, call->name, call->description,
                          &call->policy, &call->dataset, &job->err);
}

static void after_create(struct request *req)
{
    struct datasets_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_header(req, "location",
                 arena_sprintf(req->arena, "/v1/datasets/%lld", (long long)call->dataset.id));
    reply_json(req, 201, dataset_json(&call->dataset));
}

/*
 * POST /v1/datasets   body: {"name", "description"?, "policy"?}
 * 201 dataset | 400 | 401 | 403 | 413 | 415
 */
void handle_datasets_create(struct request *req)
{
    static const char *const fields[] = {"name", "description", "policy", NULL};
    struct datasets_call *call = call_new(req);
    struct lode_error err;
    json_t *body = request_json_body(req, &err), *policy;

    if (body == NULL)
        goto problem;
    request_own_json(req, body);
    if (json_object_check_fields(body, fields, &err) != LODE_OK ||
        json_get_string(body, "name", true, LODE_NAME_BYTES_MAX, &call->name, &err) != LODE_OK ||
        json_get_string(body, "description", false, LODE_DATASET_DESCRIPTION_BYTES_MAX,
                        &call->description, &err) != LODE_OK)
        goto problem;
    dataset_policy_default(&call->policy);
    policy = json_object_get(body, "policy");
    if (policy != NULL) {
        if (!policy_parse(policy, &call->patch, &err))
            goto problem;
        patch_apply(&call->patch, &call->policy);
    }
    if (dataset_policy_check(&call->policy, &err) != LODE_OK)
        goto problem;
    request_run_db(req, run_create, after_create);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- GET /v1/datasets ---- */

static enum lode_code run_list(struct db_conn *conn, struct db_job *job)
{
    struct datasets_call *call = ((struct request *)job->arg)->user;
    return dataset_list(conn, call->owner_id, call->after_id, call->limit, call->datasets,
                        &call->count, &job->err);
}

static void after_list(struct request *req)
{
    struct datasets_call *call = req->user;
    json_t *items, *page;

    if (request_job_failed(req))
        return;
    items = json_array();
    for (int i = 0; i < call->count; i++)
        json_array_append_new(items, dataset_json(&call->datasets[i]));
    page = json_pack("{s:o}", "items", items);
    if (call->count == call->limit)
        json_object_set_new(page, "next_cursor",
                            json_sprintf("%lld", (long long)call->datasets[call->count - 1].id));
    else
        json_object_set_new(page, "next_cursor", json_null());
    reply_json(req, 200, page);
}

/* A whole number from min to max, or absent. */
static bool query_number(struct request *req, const char *name, long long min, long long max,
                         long long *out, const char *what, struct lode_error *err)
{
    const char *v = NULL;
    char *end = NULL;
    long long n;

    if (!request_query(req, name, &v, err))
        return false;
    if (v == NULL)
        return true;
    n = strtoll(v, &end, 10);
    if (*v == '\0' || *v == '+' || *end != '\0' || n < min || n > max) {
        lode_error_set(err, LODE_EINVAL, "query parameter \"%s\" must be %s", name, what);
        lode_error_pointer(err, name);
        return false;
    }
    *out = n;
    return true;
}

/*
 * GET /v1/datasets?owner=ID&limit=N&cursor=C   datasets by ascending id, one owner's or all
 * 200 page | 400 | 401
 */
void handle_datasets_list(struct request *req)
{
    struct datasets_call *call = call_new(req);
    struct lode_error err;
    long long limit = LIST_LIMIT_DEFAULT, cursor = 0, owner = 0;

    if (!query_number(req, "limit", 1, LIST_LIMIT_MAX, &limit, "from 1 to 200", &err) ||
        !query_number(req, "cursor", 0, INT64_MAX, &cursor, "a cursor this server issued", &err) ||
        !query_number(req, "owner", 1, INT64_MAX, &owner, "an account id", &err)) {
        reply_problem(req, &err);
        return;
    }
    call->limit = (int)limit;
    call->after_id = cursor;
    call->owner_id = owner;
    call->datasets = arena_calloc(req->arena, (size_t)call->limit, sizeof *call->datasets);
    if (call->datasets == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "could not hold the page");
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_list, after_list);
}

/* ---- GET /v1/datasets/{id} ---- */

static enum lode_code run_get(struct db_conn *conn, struct db_job *job)
{
    struct datasets_call *call = ((struct request *)job->arg)->user;
    enum lode_code rc = dataset_get(conn, call->id, false, &call->dataset, &job->err);
    if (rc != LODE_OK)
        return rc;
    return dataset_stats(conn, call->id, &call->stat_items, &call->stat_flagged, &job->err);
}

static void after_get(struct request *req)
{
    struct datasets_call *call = req->user;
    if (!request_job_failed(req))
        reply_json(req, 200, dataset_json(&call->dataset));
}

static void after_get_stats(struct request *req)
{
    struct datasets_call *call = req->user;
    json_t *body;

    if (request_job_failed(req))
        return;
    body = dataset_json(&call->dataset);
    json_object_set_new(body, "stats",
                        json_pack("{s:I, s:I, s:f}", "items", (json_int_t)call->stat_items,
                                  "flagged", (json_int_t)call->stat_flagged, "synthetic_fraction",
                                  call->stat_items > 0
                                      ? (double)call->stat_flagged / (double)call->stat_items
                                      : 0.0));
    reply_json(req, 200, body);
}

/* GET /v1/datasets/{id}   200 dataset with its statistics | 401 | 404 */
void handle_datasets_get(struct request *req)
{
    struct datasets_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_get, after_get_stats);
}

/* ---- PATCH /v1/datasets/{id} ---- */

static enum lode_code run_update(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct datasets_call *call = req->user;
    return dataset_update(conn, call->id, req->principal.account_id,
                          (req->principal.roles & ROLE_OPERATOR) != 0, call->description,
                          call->has_patch ? &call->patch : NULL, &call->dataset, &job->err);
}

/*
 * PATCH /v1/datasets/{id}   body: {"description"?, "policy"?: {members to change}}
 * 200 dataset | 400 | 401 | 403 not the owner | 404 | 413 | 415
 */
void handle_datasets_update(struct request *req)
{
    static const char *const fields[] = {"description", "policy", NULL};
    struct datasets_call *call = call_new(req);
    struct lode_error err;
    json_t *body, *policy;

    if (request_param_id(req, 0, &call->id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "description", false, LODE_DATASET_DESCRIPTION_BYTES_MAX,
                        &call->description, &err) != LODE_OK)
        goto problem;
    policy = json_object_get(body, "policy");
    if (policy != NULL) {
        if (!policy_parse(policy, &call->patch, &err))
            goto problem;
        call->has_patch = true;
    }
    request_run_db(req, run_update, after_get);
    return;
problem:
    reply_problem(req, &err);
}
