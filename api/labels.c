/*
 * api/labels.c — labeling tasks: creation, gold answers, assignment, labels, consensus and
 * agreement (docs/labeling.md, "HTTP").
 *
 * The dataset's owner (or an operator) creates a task of a kind (single_choice, multi_label,
 * rating: api/label_kinds.c), sets its gold answers and funds its budget
 * (api/label_funding.c); labelers ask for the next item, which /next leases to them, and submit
 * one label per item, each label appending a label.submitted ledger entry and, for a paying
 * task, its payment in the same transaction; the receipt answers the submission. Labeling is blind:
 * /next shows no label and no gold flag, the ledger entry commits to the label with a nonce
 * instead of naming it, and consensus and agreement are for the owner and operators only.
 * Consensus and agreement run labeling/ over every label of the task on a database worker,
 * in the request's job arena. A consensus snapshot appends a label.consensus entry holding the
 * RFC 9162 Merkle root over one leaf per item (the canonical JSON of its consensus row).
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "api/label_kinds.h"
#include "core/encoding.h"
#include "core/json.h"
#include "labeling/labeling.h"
#include "ledger/entry.h"
#include "ledger/merkle.h"
#include "storage/label_store.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"

#define OVERLAP_DEFAULT 3
#define GOLD_SHARE_DEFAULT 0.1
#define PAGE_LIMIT_DEFAULT 100
#define PAGE_LIMIT_MAX 1000
#define OVERLAP_MAX 100

struct labels_call {
    int64_t task_id;
    struct label_task task;
    /* gold */
    int64_t *gold_items;
    const json_t **gold_labels;
    size_t gold_count;
    /* next */
    struct label_offer offer;
    bool found;
    bool unaffordable; /* the task's budget cannot pay another label */
    /* submit */
    int64_t item_id;
    const json_t *label;
    struct label_value value;
    char sha256[65];
    uint8_t nonce[LABEL_NONCE_BYTES];
    char commitment[65];
    int64_t label_id;
    int64_t created_at_ms;
    int64_t queue_id;
    /* consensus and agreement */
    enum labeling_method method;
    const char *method_name; /* as asked, NULL: the kind's default */
    int64_t cursor;
    int limit;
    struct label_answers answers;
    struct labeling_result result;
    bool aggregated; /* false: no labels yet */
    double alpha;
    struct label_kinds_result kinds; /* multi_label and rating tasks */
    /* snapshot */
    uint8_t root[MERKLE_HASH_BYTES];
};

static struct labels_call *call_new(struct request *req)
{
    struct labels_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

static bool is_operator(const struct request *req)
{
    return (req->principal.roles & ROLE_OPERATOR) != 0;
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *task_json(const struct label_task *t)
{
    return json_pack("{s:I, s:I, s:I, s:o, s:s, s:i, s:i, s:i, s:{s:I, s:s}, s:I, s:f, s:o,"
                     " s:{s:I, s:I, s:I}}",
                     "id", (json_int_t)t->id, "dataset", (json_int_t)t->dataset_id, "creator",
                     (json_int_t)t->creator_id, "schema", label_schema_json(t), "instructions",
                     t->instructions, "overlap", t->overlap, "max_overlap", t->max_overlap,
                     "lease_seconds", t->lease_seconds, "pay_per_label", "amount",
                     (json_int_t)t->pay_per_label, "currency", t->currency, "budget",
                     (json_int_t)t->budget, "gold_share",
                     t->gold_share, "created_at", json_time_ms(t->created_at_ms), "stats",
                     "items", (json_int_t)t->item_count, "gold", (json_int_t)t->gold_count,
                     "labels", (json_int_t)t->label_count);
}

/* ---- POST /v1/label-tasks ---- */

/* The task and the view of it answered, in one transaction: a failure after the insert leaves
 * no task the client was not told about. */
static enum lode_code task_create_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct labels_call *call = req->user;
    enum lode_code rc = label_task_create(conn, req->principal.account_id, is_operator(req),
                                          &call->task, err);
    if (rc != LODE_OK)
        return rc;
    return label_task_get(conn, call->task.id, req->job_arena, &call->task, err);
}

static enum lode_code run_task_create(struct db_conn *conn, struct db_job *job)
{
    return db_tx(conn, DB_READ_COMMITTED, task_create_tx, job->arg, &job->err);
}

static void after_task(struct request *req, int status)
{
    struct labels_call *call = req->user;
    if (request_job_failed(req))
        return;
    if (status == 201)
        reply_header(req, "location",
                     arena_sprintf(req->arena, "/v1/label-tasks/%lld", (long long)call->task.id));
    reply_json(req, status, task_json(&call->task));
}

static void after_task_create(struct request *req)
{
    after_task(req, 201);
}

static void after_task_get(struct request *req)
{
    after_task(req, 200);
}

/*
 * POST /v1/label-tasks   body: {"dataset", "schema": {"type"?, "classes"}, "instructions"?,
 * "overlap"?, "max_overlap"?, "pay_per_label"?: {"amount", "currency"?}, "gold_share"?}
 * 201 task | 400 | 401 | 403 not the dataset's owner | 404 no such dataset | 413 | 415
 */
void handle_label_tasks_create(struct request *req)
{
    static const char *const fields[] = {"dataset",     "schema",        "instructions",
                                         "overlap",     "max_overlap",   "pay_per_label",
                                         "gold_share",  "lease_seconds", NULL};
    static const char *const pay_fields[] = {"amount", "currency", NULL};
    struct labels_call *call = call_new(req);
    struct label_task *t = &call->task;
    struct lode_error err;
    int64_t dataset = 0, overlap = OVERLAP_DEFAULT, max_overlap = 0, amount = 0;
    int64_t lease_seconds = LABEL_LEASE_SECONDS_DEFAULT;
    const char *currency = NULL;
    json_t *body = request_json_body(req, &err), *pay, *share;

    if (body == NULL)
        goto problem;
    request_own_json(req, body);
    t->instructions = "";
    if (json_object_check_fields(body, fields, &err) != LODE_OK ||
        json_get_int(body, "dataset", true, 1, INT64_MAX, &dataset, &err) != LODE_OK ||
        json_get_string(body, "instructions", false, LODE_LABEL_INSTRUCTIONS_BYTES_MAX,
                        &t->instructions, &err) != LODE_OK ||
        json_get_int(body, "overlap", false, 1, OVERLAP_MAX, &overlap, &err) != LODE_OK ||
        json_get_int(body, "max_overlap", false, 1, OVERLAP_MAX, &max_overlap, &err) !=
            LODE_OK ||
        json_get_int(body, "lease_seconds", false, LABEL_LEASE_SECONDS_MIN,
                     LABEL_LEASE_SECONDS_MAX, &lease_seconds, &err) != LODE_OK)
        goto problem;
    if (t->instructions == NULL)
        t->instructions = "";
    if (!label_schema_parse(req->arena, json_object_get(body, "schema"), t, &err))
        goto problem;
    if (max_overlap == 0)
        max_overlap = overlap;
    if (max_overlap < overlap) {
        lode_error_set(&err, LODE_EINVAL, "max_overlap must be at least overlap");
        lode_error_pointer(&err, "/max_overlap");
        goto problem;
    }
    pay = json_object_get(body, "pay_per_label");
    if (pay != NULL) {
        if (!json_is_object(pay) || json_object_check_fields(pay, pay_fields, &err) != LODE_OK ||
            json_get_int(pay, "amount", true, 0, INT64_MAX, &amount, &err) != LODE_OK ||
            json_get_string(pay, "currency", false, 3, &currency, &err) != LODE_OK) {
            if (!json_is_object(pay))
                lode_error_set(&err, LODE_EINVAL, "field \"pay_per_label\" must be an object");
            lode_error_pointer(&err, "/pay_per_label");
            goto problem;
        }
    }
    snprintf(t->currency, sizeof t->currency, "%s", currency != NULL ? currency : "EUR");
    if (strlen(t->currency) != 3 || t->currency[0] < 'A' || t->currency[0] > 'Z' ||
        t->currency[1] < 'A' || t->currency[1] > 'Z' || t->currency[2] < 'A' ||
        t->currency[2] > 'Z') {
        lode_error_set(&err, LODE_EINVAL, "pay_per_label.currency must be an ISO 4217 code");
        lode_error_pointer(&err, "/pay_per_label/currency");
        goto problem;
    }
    t->gold_share = GOLD_SHARE_DEFAULT;
    share = json_object_get(body, "gold_share");
    if (share != NULL) {
        double v = json_is_number(share) ? json_number_value(share) : -1.0;
        if (!(v >= 0.0 && v <= 1.0)) {
            lode_error_set(&err, LODE_EINVAL, "gold_share must be a number from 0 to 1");
            lode_error_pointer(&err, "/gold_share");
            goto problem;
        }
        t->gold_share = v;
    }
    t->dataset_id = dataset;
    t->overlap = (int)overlap;
    t->max_overlap = (int)max_overlap;
    t->lease_seconds = (int)lease_seconds;
    t->pay_per_label = amount;
    request_run_db(req, run_task_create, after_task_create);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- GET /v1/label-tasks/{id} ---- */

static enum lode_code run_task_get(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct labels_call *call = req->user;
    return label_task_get(conn, call->task_id, req->job_arena, &call->task, &job->err);
}

/* GET /v1/label-tasks/{id}   200 task | 401 | 404 */
void handle_label_tasks_get(struct request *req)
{
    struct labels_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_task_get, after_task_get);
}

/* ---- POST /v1/label-tasks/{id}/gold ---- */

static enum lode_code gold_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct labels_call *call = req->user;
    struct label_value *values;
    enum lode_code rc;

    rc = label_task_get(conn, call->task_id, req->job_arena, &call->task, err);
    if (rc != LODE_OK)
        return rc;
    values = arena_calloc(req->job_arena, call->gold_count, sizeof *values);
    if (values == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the gold answers");
    for (size_t i = 0; i < call->gold_count; i++) {
        char ptr[LODE_ERROR_NAME_MAX];
        snprintf(ptr, sizeof ptr, "/gold/%zu/label", i);
        if (!label_value_parse(&call->task, call->gold_labels[i], ptr, &values[i], err))
            return err->code;
    }
    rc = label_gold_set(conn, call->task_id, req->principal.account_id, is_operator(req),
                        call->gold_items, values, call->gold_count, err);
    if (rc != LODE_OK)
        return rc;
    return label_task_get(conn, call->task_id, req->job_arena, &call->task, err);
}

static enum lode_code run_gold(struct db_conn *conn, struct db_job *job)
{
    return db_tx(conn, DB_READ_COMMITTED, gold_tx, job->arg, &job->err);
}

/*
 * POST /v1/label-tasks/{id}/gold   body: {"gold": [{"item": ID, "label": "class"}, ...]}
 * Sets or replaces gold answers. 200 task | 400 | 401 | 403 | 404 | 422 item not in the task
 */
void handle_label_gold_set(struct request *req)
{
    static const char *const fields[] = {"gold", NULL};
    static const char *const entry_fields[] = {"item", "label", NULL};
    struct labels_call *call = call_new(req);
    struct lode_error err;
    json_t *body, *gold;
    size_t n;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL)
        goto problem;
    gold = json_object_get(body, "gold");
    n = json_is_array(gold) ? json_array_size(gold) : 0;
    if (n < 1 || n > LODE_LABEL_GOLD_PER_REQUEST_MAX) {
        lode_error_set(&err, LODE_EINVAL, "field \"gold\" must be an array of 1 to %d answers",
                       LODE_LABEL_GOLD_PER_REQUEST_MAX);
        lode_error_pointer(&err, "/gold");
        goto problem;
    }
    call->gold_items = arena_calloc(req->arena, n, sizeof *call->gold_items);
    call->gold_labels = arena_calloc(req->arena, n, sizeof(const json_t *));
    if (call->gold_items == NULL || call->gold_labels == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "could not hold the gold answers");
        goto problem;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *g = json_array_get(gold, i);
        char ptr[LODE_ERROR_NAME_MAX];
        if (!json_is_object(g) || json_object_check_fields(g, entry_fields, &err) != LODE_OK ||
            json_get_int(g, "item", true, 1, INT64_MAX, &call->gold_items[i], &err) !=
                LODE_OK) {
            if (!json_is_object(g))
                lode_error_set(&err, LODE_EINVAL, "gold[%zu] must be an object", i);
            snprintf(ptr, sizeof ptr, "/gold/%zu", i);
            lode_error_pointer(&err, ptr);
            goto problem;
        }
        call->gold_labels[i] = json_object_get(g, "label");
        if (call->gold_labels[i] == NULL) {
            lode_error_set(&err, LODE_EINVAL, "gold[%zu] must have a label", i);
            snprintf(ptr, sizeof ptr, "/gold/%zu/label", i);
            lode_error_pointer(&err, ptr);
            goto problem;
        }
    }
    call->gold_count = n;
    request_run_db(req, run_gold, after_task_get);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- GET /v1/label-tasks/{id}/next ---- */

static enum lode_code run_next(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct labels_call *call = req->user;
    enum lode_code rc;
    bool want_gold;

    rc = label_task_get(conn, call->task_id, req->job_arena, &call->task, &job->err);
    if (rc != LODE_OK)
        return rc;
    /* a gold item with probability gold_share (while any is left for this labeler) */
    want_gold = (double)randombytes_uniform(1000000) < call->task.gold_share * 1000000.0;
    return label_next(conn, call->task_id, req->principal.account_id, want_gold, &call->offer,
                      &call->found, &call->unaffordable, &job->err);
}

static void after_next(struct request *req)
{
    struct labels_call *call = req->user;

    if (request_job_failed(req))
        return;
    if (!call->found) {
        reply_header(req, "lode-reason",
                     call->unaffordable ? "task budget exhausted"
                                        : "no item left for this labeler");
        reply_empty(req, 204);
        return;
    }
    reply_json(req, 200,
               json_pack("{s:I, s:{s:I, s:s, s:s, s:s}, s:o, s:s}", "task",
                         (json_int_t)call->task.id, "item", "id",
                         (json_int_t)call->offer.item_id, "sha256", call->offer.sha256,
                         "media_type", call->offer.media_type, "content",
                         arena_sprintf(req->arena, "/v1/items/%s/content", call->offer.sha256),
                         "schema", label_schema_json(&call->task), "instructions",
                         call->task.instructions));
}

/*
 * GET /v1/label-tasks/{id}/next   (labelers) an item this labeler has not labeled, leased to
 * them; gold items look like the others. 200 item | 204 nothing left or the task's budget is
 * exhausted (header lode-reason) | 401 | 403 | 404
 */
void handle_label_next(struct request *req)
{
    struct labels_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_next, after_next);
}

/* ---- POST /v1/label-tasks/{id}/labels ---- */

/* The ledger's commitment to a label: SHA-256 of the canonical JSON of
 * {"item", "label", "labeler", "nonce" (hex), "task"}. */
static enum lode_code label_commit(struct labels_call *call, int64_t labeler,
                                   struct lode_error *err)
{
    char nonce_hex[HEX_ENCODED_BYTES(LABEL_NONCE_BYTES)];
    uint8_t digest[crypto_hash_sha256_BYTES];
    json_t *obj;
    char *text;
    size_t len = 0;

    hex_encode(call->nonce, LABEL_NONCE_BYTES, nonce_hex);
    obj = json_pack("{s:I, s:o, s:I, s:s, s:I}", "item", (json_int_t)call->item_id, "label",
                    label_value_canonical(&call->task, &call->value), "labeler", (json_int_t)labeler, "nonce", nonce_hex, "task",
                    (json_int_t)call->task_id);
    text = obj != NULL ? json_canonical_dump(obj, &len) : NULL;
    json_decref(obj);
    if (text == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not encode the label commitment");
    crypto_hash_sha256(digest, (const unsigned char *)text, len);
    free(text);
    hex_encode(digest, sizeof digest, call->commitment);
    return LODE_OK;
}

/* Pays the label from the task's budget (TASK -> labeler's USER, reason label_pay, context
 * ("label", id)) in the label's transaction; a budget that cannot pay refuses the label. */
static enum lode_code label_pay(struct db_conn *conn, struct labels_call *call, int64_t labeler,
                                struct lode_error *err)
{
    struct money_transfer pay = {{MONEY_ACCOUNT_TASK, call->task_id},
                                 {MONEY_ACCOUNT_USER, labeler},
                                 "",
                                 call->task.pay_per_label,
                                 "label_pay"};
    struct money_context context = {"label", call->label_id};
    enum lode_code rc;

    if (call->task.pay_per_label <= 0)
        return LODE_OK;
    memcpy(pay.currency, call->task.currency, sizeof pay.currency);
    rc = money_post(conn, &pay, 1, &context, NULL, err);
    if (rc != LODE_OK && money_error_is_insufficient(err)) {
        lode_error_set(err, LODE_ECONFLICT,
                       "task budget exhausted: label task %lld cannot pay %lld %s for a label",
                       (long long)call->task_id, (long long)call->task.pay_per_label,
                       call->task.currency);
        lode_error_pointer(err, "/item");
    }
    return rc == LODE_OK ? LODE_OK : err->code;
}

static enum lode_code submit_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct labels_call *call = req->user;
    int64_t labeler = req->principal.account_id;
    enum lode_code rc;
    json_t *entry;

    rc = label_task_get(conn, call->task_id, req->job_arena, &call->task, err);
    if (rc != LODE_OK)
        return rc;
    if (!label_value_parse(&call->task, call->label, "/label", &call->value, err))
        return err->code;
    rc = label_item_check(conn, &call->task, call->item_id, call->sha256, err);
    if (rc != LODE_OK)
        return rc;
    randombytes_buf(call->nonce, sizeof call->nonce);
    rc = label_commit(call, labeler, err);
    if (rc != LODE_OK)
        return rc;
    /* the public entry names neither the label nor the item (the commitment binds both): how
     * many labels an item gathers would otherwise tell gold items, offered to every labeler,
     * from the rest */
    entry = json_pack("{s:s, s:I, s:I, s:I, s:s}", "type", "label.submitted", "task",
                      (json_int_t)call->task_id, "dataset", (json_int_t)call->task.dataset_id,
                      "labeler", (json_int_t)labeler, "commitment", call->commitment);
    rc = ledger_enqueue_json(conn, entry, &call->queue_id, err);
    if (rc != LODE_OK)
        return rc;
    rc = label_insert(conn, &call->task, call->item_id, labeler, &call->value, call->nonce,
                      call->queue_id, &call->label_id, &call->created_at_ms, err);
    if (rc != LODE_OK)
        return rc;
    return label_pay(conn, call, labeler, err);
}

static enum lode_code run_submit(struct db_conn *conn, struct db_job *job)
{
    return db_tx(conn, DB_READ_COMMITTED, submit_tx, job->arg, &job->err);
}

static void label_recorded(struct request *req, void *state, const struct ledger_receipt *r,
                           size_t count, json_t *checkpoint)
{
    struct labels_call *call = state;
    char nonce_hex[HEX_ENCODED_BYTES(LABEL_NONCE_BYTES)];

    (void)count;
    hex_encode(call->nonce, LABEL_NONCE_BYTES, nonce_hex);
    reply_json(req, 201,
               json_pack("{s:I, s:I, s:I, s:s, s:I, s:o, s:o, s:s, s:s,"
                         " s:o}",
                         "id", (json_int_t)call->label_id, "task", (json_int_t)call->task_id,
                         "item", (json_int_t)call->item_id, "item_sha256", call->sha256,
                         "labeler", (json_int_t)req->principal.account_id, "label",
                         label_value_json(&call->task, &call->value),
                         "created_at", json_time_ms(call->created_at_ms), "nonce", nonce_hex,
                         "commitment", call->commitment, "ledger",
                         ledger_receipt_json(r, checkpoint)));
}

static void after_submit(struct request *req)
{
    struct labels_call *call = req->user;
    if (request_job_failed(req))
        return;
    ledger_await_receipts(req, &call->queue_id, 1, call, label_recorded);
}

/*
 * POST /v1/label-tasks/{id}/labels   body: {"item": ID, "label": value of the task's kind}
 * (labelers) 201 label with its ledger receipt | 400 label outside the schema | 401 | 403 |
 * 404 no task | 409 already labeled by this labeler, or task budget exhausted | 422 item not in
 * the task
 */
void handle_label_submit(struct request *req)
{
    static const char *const fields[] = {"item", "label", NULL};
    struct labels_call *call = call_new(req);
    struct lode_error err;
    json_t *body;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_int(body, "item", true, 1, INT64_MAX, &call->item_id, &err) != LODE_OK)
        goto problem;
    call->label = json_object_get(body, "label");
    if (call->label == NULL) {
        lode_error_set(&err, LODE_EINVAL, "field \"label\" is required");
        lode_error_pointer(&err, "/label");
        goto problem;
    }
    request_run_db(req, run_submit, after_submit);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- consensus and agreement ---- */

/* Loads the task (owner or operator only) and aggregates its labels with call->method. */
static enum lode_code aggregate_task(struct db_conn *conn, struct request *req,
                                     struct lode_error *err)
{
    struct labels_call *call = req->user;
    struct label_answers *a = &call->answers;
    struct labeling_answer *answers;
    struct labeling_gold *gold;
    struct labeling_problem problem;
    struct labeling_options options;
    enum lode_code rc;

    rc = label_task_get(conn, call->task_id, req->job_arena, &call->task, err);
    if (rc != LODE_OK)
        return rc;
    if (!is_operator(req) && call->task.owner_id != req->principal.account_id)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "only the dataset's owner or an operator may read the consensus"
                              " of label task %lld",
                              (long long)call->task_id);
    rc = label_answers_load(conn, &call->task, req->job_arena, a, err);
    if (rc != LODE_OK)
        return rc;
    call->alpha = NAN;
    if (call->task.kind != LABEL_KIND_SINGLE_CHOICE) {
        rc = label_kinds_aggregate(&call->task, a, call->method_name, (uint64_t)call->task_id,
                                   req->job_arena, &call->kinds, err);
        call->aggregated = rc == LODE_OK && a->answer_count > 0 && a->item_count > 0;
        return rc;
    }
    call->method = LABELING_METHOD_AUTO;
    if (call->method_name != NULL && !labeling_method_parse(call->method_name, &call->method)) {
        lode_error_set(err, LODE_EINVAL,
                       "query parameter \"method\" must be mv, onecoin, hds, ds or auto");
        lode_error_pointer(err, "method");
        return err->code;
    }
    if (a->answer_count == 0 || a->item_count == 0)
        return LODE_OK; /* a task with no labels: every item without consensus */
    answers = arena_calloc(req->job_arena, a->answer_count, sizeof *answers);
    gold = arena_calloc(req->job_arena, a->gold_count + 1, sizeof *gold);
    if (answers == NULL || gold == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the task's labels");
    for (size_t i = 0; i < a->answer_count; i++) {
        answers[i].item = a->answer_item[i];
        answers[i].worker = a->answer_labeler[i];
        answers[i].label = a->answer_class[i];
    }
    for (size_t i = 0; i < a->gold_count; i++) {
        gold[i].item = a->gold_item[i];
        gold[i].label = a->gold_class[i];
    }
    problem = (struct labeling_problem){.answers = answers,
                                        .answer_count = a->answer_count,
                                        .gold = gold,
                                        .gold_count = a->gold_count,
                                        .item_count = a->item_count,
                                        .worker_count = a->labeler_count,
                                        .label_count = call->task.class_count};
    labeling_options_init(&options);
    options.method = call->method;
    options.seed = (uint64_t)call->task_id;
    rc = labeling_aggregate(&problem, &options, req->job_arena, &call->result, err);
    if (rc != LODE_OK)
        return rc;
    call->aggregated = true;
    return labeling_alpha_nominal(answers, a->answer_count, a->item_count,
                                  call->task.class_count, req->job_arena, &call->alpha, err);
}

static enum lode_code run_aggregate(struct db_conn *conn, struct db_job *job)
{
    return aggregate_task(conn, job->arg, &job->err);
}

/* Reads method, limit and cursor from the query. */
static bool aggregate_query(struct request *req, struct labels_call *call, bool paged,
                            struct lode_error *err)
{
    const char *v = NULL;

    call->method = LABELING_METHOD_AUTO;
    if (!request_query(req, "method", &call->method_name, err))
        return false;
    if (!paged)
        return true;
    call->limit = PAGE_LIMIT_DEFAULT;
    if (!request_query(req, "limit", &v, err))
        return false;
    if (v != NULL) {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || n < 1 || n > PAGE_LIMIT_MAX) {
            lode_error_set(err, LODE_EINVAL, "query parameter \"limit\" must be from 1 to %d",
                           PAGE_LIMIT_MAX);
            lode_error_pointer(err, "limit");
            return false;
        }
        call->limit = (int)n;
    }
    if (!request_query(req, "cursor", &v, err))
        return false;
    if (v != NULL) {
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        if (*v == '\0' || *v == '-' || *v == '+' || *end != '\0' || n < 0) {
            lode_error_set(err, LODE_EINVAL,
                           "query parameter \"cursor\" must be a cursor this server issued");
            lode_error_pointer(err, "cursor");
            return false;
        }
        call->cursor = n;
    }
    return true;
}

/* The model that produced the consensus (the requested one without labels). */
static const char *method_used(const struct labels_call *call)
{
    if (call->task.kind != LABEL_KIND_SINGLE_CHOICE)
        return call->kinds.method;
    return labeling_method_name(call->aggregated ? call->result.method : call->method);
}

static const char *method_requested(const struct labels_call *call)
{
    if (call->method_name != NULL)
        return call->method_name;
    return call->task.kind == LABEL_KIND_RATING ? "gaussian" : "auto";
}

static void after_consensus(struct request *req)
{
    struct labels_call *call = req->user;
    const struct label_answers *a = &call->answers;
    const struct labeling_result *r = &call->result;
    json_t *items = json_array(), *page;
    bool *is_gold;
    uint32_t first = 0, i;
    int emitted = 0;

    if (request_job_failed(req)) {
        json_decref(items);
        return;
    }
    is_gold = arena_calloc(req->arena, a->item_count + 1, sizeof *is_gold);
    if (is_gold == NULL) {
        struct lode_error err;
        json_decref(items);
        lode_error_set(&err, LODE_ENOMEM, "could not render the consensus");
        reply_problem(req, &err);
        return;
    }
    for (size_t g = 0; g < a->gold_count; g++)
        is_gold[a->gold_item[g]] = true;
    while (first < a->item_count && a->item_ids[first] <= call->cursor)
        first++;
    for (i = first; i < a->item_count && emitted < call->limit; i++, emitted++) {
        json_t *votes;
        if (call->task.kind != LABEL_KIND_SINGLE_CHOICE) {
            json_array_append_new(items, label_kinds_row(&call->task, a, &call->kinds,
                                                         call->aggregated, i, is_gold[i]));
            continue;
        }
        votes = json_object();
        uint32_t label = call->aggregated ? r->label[i] : LABELING_NONE;
        uint32_t total = 0;
        for (uint32_t k = 0; k < call->task.class_count; k++) {
            uint32_t n = call->aggregated ? r->votes[(size_t)i * r->label_count + k] : 0;
            total += n;
            if (n > 0)
                json_object_set_new(votes, call->task.classes[k], json_integer(n));
        }
        json_array_append_new(
            items, json_pack("{s:I, s:o, s:f, s:b, s:I, s:o}", "item",
                             (json_int_t)a->item_ids[i], "label",
                             label != LABELING_NONE ? json_string(call->task.classes[label])
                                                    : json_null(),
                             "confidence", label != LABELING_NONE ? r->confidence[i] : 0.0,
                             "gold",
                             is_gold[i], "labels", (json_int_t)total, "votes", votes));
    }
    page = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "task", (json_int_t)call->task_id,
                     "kind", label_kind_name(call->task.kind), "method_requested",
                     method_requested(call), "method", method_used(call), "items", items,
                     "next_cursor",
                     i < a->item_count && emitted > 0
                         ? json_sprintf("%lld", (long long)a->item_ids[i - 1])
                         : json_null());
    reply_json(req, 200, page);
}

/*
 * GET /v1/label-tasks/{id}/consensus?method=mv|onecoin|hds|ds|auto&limit=N&cursor=C
 * (owner or operator) per item by ascending id: consensus label, confidence, vote counts.
 * 200 page | 400 | 401 | 403 | 404 | 413 task too large to aggregate on request
 */
void handle_label_consensus(struct request *req)
{
    struct labels_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK ||
        !aggregate_query(req, call, true, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_aggregate, after_consensus);
}

static json_t *interval_json(double mean, double low, double high)
{
    return json_pack("{s:o, s:o, s:o}", "mean", number_or_null(mean), "low", number_or_null(low),
                     "high", number_or_null(high));
}

/* The agreement answer around the per-labeler list (owned). */
static json_t *agreement_json(const struct labels_call *call, json_t *labelers)
{
    const struct label_answers *a = &call->answers;
    const struct label_kinds_result *k = &call->kinds;
    json_t *per_class = json_null();
    double nominal = call->alpha, interval = NAN;

    if (call->task.kind == LABEL_KIND_MULTI_LABEL) {
        nominal = call->aggregated ? k->alpha_nominal : NAN;
        per_class = json_object();
        for (uint32_t c = 0; c < call->task.class_count; c++)
            json_object_set_new(per_class, call->task.classes[c],
                                number_or_null(call->aggregated ? k->class_alpha[c] : NAN));
    } else if (call->task.kind == LABEL_KIND_RATING) {
        nominal = NAN;
        interval = call->aggregated ? k->alpha_interval : NAN;
    }
    return json_pack("{s:I, s:s, s:I, s:I, s:s, s:o, s:o, s:o, s:o}", "task",
                     (json_int_t)call->task_id, "kind", label_kind_name(call->task.kind),
                     "labels", (json_int_t)a->answer_count, "items", (json_int_t)a->item_count,
                     "method", method_used(call), "alpha_nominal", number_or_null(nominal),
                     "alpha_interval", number_or_null(interval), "alpha_per_class", per_class,
                     "labelers", labelers);
}

static void after_agreement(struct request *req)
{
    struct labels_call *call = req->user;
    const struct label_answers *a = &call->answers;
    const struct labeling_result *r = &call->result;
    json_t *labelers = json_array();

    if (request_job_failed(req)) {
        json_decref(labelers);
        return;
    }
    if (call->task.kind != LABEL_KIND_SINGLE_CHOICE) {
        json_decref(labelers);
        labelers = call->aggregated ? label_kinds_labelers(&call->task, a, &call->kinds)
                                    : json_array();
    }
    for (uint32_t w = 0; call->task.kind == LABEL_KIND_SINGLE_CHOICE && call->aggregated &&
                         w < a->labeler_count;
         w++) {
        const struct labeling_quality *q = &r->workers[w];
        json_t *gold = json_pack("{s:I, s:I, s:o, s:o, s:o}", "answers",
                                 (json_int_t)q->gold_answers, "right", (json_int_t)q->gold_right,
                                 "mean", number_or_null(q->gold_mean), "low",
                                 number_or_null(q->gold_low), "high",
                                 number_or_null(q->gold_high));
        json_array_append_new(
            labelers,
            json_pack("{s:I, s:I, s:o, s:o, s:o, s:o}", "labeler", (json_int_t)a->labeler_ids[w],
                      "labels", (json_int_t)q->answers, "agreement", number_or_null(q->agreement),
                      "pairwise", number_or_null(q->pairwise), "accuracy",
                      interval_json(q->model_mean, q->model_low, q->model_high), "gold", gold));
    }
    reply_json(req, 200, agreement_json(call, labelers));
}

/*
 * GET /v1/label-tasks/{id}/agreement?method=...   (owner or operator) Krippendorff's alpha
 * (nominal) and per labeler: agreement with the consensus, pairwise agreement, estimated
 * accuracy with its 90% interval (model and gold). 200 | 400 | 401 | 403 | 404 | 413
 */
void handle_label_agreement(struct request *req)
{
    struct labels_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK ||
        !aggregate_query(req, call, false, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_aggregate, after_agreement);
}

/* ---- POST /v1/label-tasks/{id}/consensus/snapshots ---- */

/* The snapshot leaf of item i: canonical JSON {"item", "label" (null without labels),
 * "votes": {class: count, classes with votes only}}; malloc'd. */
static char *snapshot_leaf(const struct labels_call *call, uint32_t i, size_t *len_out)
{
    const struct labeling_result *r = &call->result;
    uint32_t label;
    json_t *votes, *row;
    char *text;

    if (call->task.kind != LABEL_KIND_SINGLE_CHOICE) {
        row = label_kinds_leaf(&call->task, &call->answers, &call->kinds, call->aggregated, i);
        text = row != NULL ? json_canonical_dump(row, len_out) : NULL;
        json_decref(row);
        return text;
    }
    label = call->aggregated ? r->label[i] : LABELING_NONE;
    votes = json_object();
    for (uint32_t k = 0; call->aggregated && k < call->task.class_count; k++) {
        uint32_t n = r->votes[(size_t)i * r->label_count + k];
        if (n > 0)
            json_object_set_new(votes, call->task.classes[k], json_integer(n));
    }
    row = json_pack("{s:I, s:o, s:o}", "item", (json_int_t)call->answers.item_ids[i], "label",
                    label != LABELING_NONE ? json_string(call->task.classes[label]) : json_null(),
                    "votes", votes);
    text = row != NULL ? json_canonical_dump(row, len_out) : NULL;
    json_decref(row);
    return text;
}

/* RFC 9162 root of leaves[0..n), n >= 1: split at the largest power of two below n. */
static void tree_root(const uint8_t (*leaves)[MERKLE_HASH_BYTES], size_t n,
                      uint8_t out[MERKLE_HASH_BYTES])
{
    uint8_t left[MERKLE_HASH_BYTES], right[MERKLE_HASH_BYTES];
    size_t k = 1;

    if (n == 1) {
        memcpy(out, leaves[0], MERKLE_HASH_BYTES);
        return;
    }
    while (k * 2 < n)
        k *= 2;
    tree_root(leaves, k, left);
    tree_root(leaves + k, n - k, right);
    merkle_hash_children(left, right, out);
}

static enum lode_code snapshot_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct labels_call *call = req->user;
    uint8_t (*leaves)[MERKLE_HASH_BYTES];
    char root_hex[HEX_ENCODED_BYTES(MERKLE_HASH_BYTES)];
    size_t len = 0;
    enum lode_code rc;
    json_t *entry;

    call->aggregated = false;
    rc = aggregate_task(conn, req, err);
    if (rc != LODE_OK)
        return rc;
    if (call->answers.item_count == 0) {
        merkle_hash_empty(call->root);
    } else {
        leaves = arena_calloc(req->job_arena, call->answers.item_count, sizeof *leaves);
        if (leaves == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not hold the snapshot");
        for (uint32_t i = 0; i < call->answers.item_count; i++) {
            char *text = snapshot_leaf(call, i, &len);
            if (text == NULL)
                return lode_error_set(err, LODE_ENOMEM, "could not encode the snapshot");
            merkle_hash_leaf((const uint8_t *)text, len, leaves[i]);
            free(text);
        }
        tree_root((const uint8_t(*)[MERKLE_HASH_BYTES])leaves, call->answers.item_count,
                  call->root);
    }
    hex_encode(call->root, MERKLE_HASH_BYTES, root_hex);
    entry = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:s}", "type", "label.consensus",
                      "task", (json_int_t)call->task_id, "dataset",
                      (json_int_t)call->task.dataset_id, "method",
                      method_used(call),
                      "items", (json_int_t)call->answers.item_count, "labels",
                      (json_int_t)call->answers.answer_count, "last_label",
                      (json_int_t)call->answers.last_label_id, "root", root_hex);
    return ledger_enqueue_json(conn, entry, &call->queue_id, err);
}

static enum lode_code run_snapshot(struct db_conn *conn, struct db_job *job)
{
    /* one snapshot of the labels: the loaded rows and last_label agree */
    return db_tx(conn, DB_REPEATABLE_READ, snapshot_tx, job->arg, &job->err);
}

static void snapshot_recorded(struct request *req, void *state, const struct ledger_receipt *r,
                              size_t count, json_t *checkpoint)
{
    struct labels_call *call = state;
    char root[HEX_ENCODED_BYTES(MERKLE_HASH_BYTES)];

    (void)count;
    hex_encode(call->root, MERKLE_HASH_BYTES, root);
    reply_json(req, 201,
               json_pack("{s:I, s:s, s:I, s:I, s:I, s:s, s:o}", "task",
                         (json_int_t)call->task_id, "method",
                         method_used(call),
                         "items", (json_int_t)call->answers.item_count, "labels",
                         (json_int_t)call->answers.answer_count, "last_label",
                         (json_int_t)call->answers.last_label_id, "root", root, "ledger",
                         ledger_receipt_json(r, checkpoint)));
}

static void after_snapshot(struct request *req)
{
    struct labels_call *call = req->user;
    if (request_job_failed(req))
        return;
    ledger_await_receipts(req, &call->queue_id, 1, call, snapshot_recorded);
}

/*
 * POST /v1/label-tasks/{id}/consensus/snapshots?method=...   (owner or operator) publishes the
 * consensus of every item as a label.consensus ledger entry with the Merkle root of the rows.
 * 201 snapshot with its ledger receipt | 400 | 401 | 403 | 404 | 413
 */
void handle_label_snapshot(struct request *req)
{
    struct labels_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK ||
        !aggregate_query(req, call, false, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_snapshot, after_snapshot);
}
