/*
 * api/label_funding.c — a labeling task's budget, from which each label is paid (api/labels.c,
 * label_pay; docs/labeling.md, "Pay per label"):
 *   POST /v1/label-tasks/{id}/funding: the dataset's owner (or an operator) moves money from
 *     their own spendable account into the budget;
 *   POST /v1/label-tasks/{id}/funding/withdrawals: the owner (or an operator) takes back what
 *     no labeler's live lease reserves; it goes to the owner's spendable account.
 *
 * One transaction: Idempotency-Key claim, the task and the caller's right, the posting
 * USER(caller) -> TASK(task) (reason "task_funding") or TASK(task) -> USER(owner) (reason
 * "task_refund"), context ("task", id), in the task's currency, the new budget, a task.funded
 * or task.refunded ledger entry, and the stored response for replays. The answer waits for
 * the entry's receipt.
 */
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/json.h"
#include "storage/idempotency_store.h"
#include "storage/label_store.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"

#define FUNDING_AMOUNT_MAX 9007199254740991LL /* 2^53 - 1: exact in every JSON reader */

struct funding_call {
    bool withdraw; /* TASK -> USER(owner) instead of USER(caller) -> TASK */
    int64_t task_id;
    int64_t amount;
    const char *currency; /* as given, or NULL */
    const char *idem_key;
    uint8_t request_hash[32];
    struct label_task task;
    int64_t posting_id;
    struct recorded_reply reply; /* waits for the task.funded or task.refunded entry */
};

static enum lode_code funding_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct funding_call *call = req->user;
    struct idempotency_response replay;
    struct money_transfer fund;
    struct money_context context;
    int64_t actor = req->principal.account_id;
    enum lode_code rc;

    recorded_reply_reset(&call->reply);
    rc = request_idempotency_claim(conn, req, call->idem_key, call->request_hash, &replay, err);
    if (rc != LODE_OK)
        return rc;
    if (replay.status != 0)
        return recorded_reply_replay(&call->reply, &replay, err);
    rc = label_task_get(conn, call->task_id, req->job_arena, &call->task, err);
    if (rc != LODE_OK)
        return rc;
    if ((req->principal.roles & ROLE_OPERATOR) == 0 && call->task.owner_id != actor)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "only the dataset's owner or an operator may %s label task %lld",
                              call->withdraw ? "take back the budget of" : "fund",
                              (long long)call->task_id);
    if (call->currency != NULL && strcmp(call->currency, call->task.currency) != 0) {
        lode_error_set(err, LODE_EINVAL, "label task %lld pays in %s, not %s",
                       (long long)call->task_id, call->task.currency, call->currency);
        lode_error_pointer(err, "/currency");
        return err->code;
    }
    struct money_account task = {MONEY_ACCOUNT_TASK, call->task_id};
    if (call->withdraw) {
        /* under the task's /next lock: a lease handed out meanwhile would count on this money */
        int64_t budget = 0, free_budget = 0;
        rc = label_budget_free(conn, &call->task, &budget, &free_budget, err);
        if (rc != LODE_OK)
            return rc;
        if (call->amount > budget) {
            lode_error_set(err, LODE_EUNPROCESSABLE,
                           "insufficient budget: label task %lld holds %lld %s, %lld asked",
                           (long long)call->task_id, (long long)budget, call->task.currency,
                           (long long)call->amount);
            lode_error_pointer(err, "/amount");
            return err->code;
        }
        if (call->amount > free_budget) {
            lode_error_set(err, LODE_ECONFLICT,
                           "%lld %s of label task %lld's budget pays items leased to labelers"
                           " now; %lld can be taken back",
                           (long long)(budget - free_budget), call->task.currency,
                           (long long)call->task_id, (long long)free_budget);
            lode_error_pointer(err, "/amount");
            return err->code;
        }
    }
    memset(&fund, 0, sizeof fund);
    fund.from = call->withdraw ? task : (struct money_account){MONEY_ACCOUNT_USER, actor};
    fund.to = call->withdraw ? (struct money_account){MONEY_ACCOUNT_USER, call->task.owner_id}
                             : task;
    memcpy(fund.currency, call->task.currency, sizeof fund.currency);
    fund.amount = call->amount;
    fund.reason = call->withdraw ? "task_refund" : "task_funding";
    context = (struct money_context){"task", call->task_id};
    rc = money_post(conn, &fund, 1, &context, &call->posting_id, err);
    if (rc != LODE_OK)
        return rc;
    rc = money_balance(conn, task, call->task.currency, &call->task.budget, err);
    if (rc != LODE_OK)
        return rc;
    /* who pays the labelers of which task is public, as every other movement of money is */
    json_t *entry = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I}", "type",
                              call->withdraw ? "task.refunded" : "task.funded", "task",
                              (json_int_t)call->task_id, "dataset",
                              (json_int_t)call->task.dataset_id, "amount",
                              (json_int_t)call->amount, "currency", call->task.currency,
                              "posting", (json_int_t)call->posting_id);
    if (entry != NULL && call->withdraw) {
        json_object_set_new(entry, "owner", json_integer((json_int_t)call->task.owner_id));
        json_object_set_new(entry, "by", json_integer((json_int_t)actor));
    } else if (entry != NULL) {
        json_object_set_new(entry, "funder", json_integer((json_int_t)actor));
    }
    rc = ledger_enqueue_json(conn, entry, &call->reply.queue_id, err);
    if (rc != LODE_OK)
        return rc;
    call->reply.body = json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:I}", "task",
                               (json_int_t)call->task_id, "amount", (json_int_t)call->amount,
                               "currency", call->task.currency, "posting",
                               (json_int_t)call->posting_id, "budget",
                               (json_int_t)call->task.budget, "pay_per_label",
                               (json_int_t)call->task.pay_per_label, "ledger_queue_id",
                               (json_int_t)call->reply.queue_id);
    return request_idempotency_finish_json(conn, actor, call->idem_key, call->reply.body, err);
}

static enum lode_code run_funding(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct funding_call *call = req->user;
    enum lode_code rc = db_tx(conn, DB_READ_COMMITTED, funding_tx, req, &job->err);

    recorded_reply_keep(req, &call->reply, rc);
    return rc;
}

static void after_funding(struct request *req)
{
    struct funding_call *call = req->user;

    if (!request_job_failed(req))
        recorded_reply_send(req, &call->reply);
}

/*
 * POST /v1/label-tasks/{id}/funding   body: {"amount", "currency"?}   header Idempotency-Key
 * (the dataset's owner or an operator) moves amount from the caller's spendable money into the
 * task's budget. 201 {task, amount, currency, posting, budget, pay_per_label, ledger} | 400 |
 * 401 |
 * 403 | 404 no task | 409 key still running | 422 insufficient balance, or the key was used
 * for another request
 */
static void funding_start(struct request *req, bool withdraw)
{
    static const char *const fields[] = {"amount", "currency", NULL};
    struct funding_call *call = arena_calloc(req->arena, 1, sizeof *call);
    struct lode_error err;
    json_t *body;

    if (call == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "out of memory");
        goto problem;
    }
    call->withdraw = withdraw;
    req->user = call;
    if (request_param_id(req, 0, &call->task_id, &err) != LODE_OK)
        goto problem;
    if (!request_idempotency_key(req, true, &call->idem_key, &err))
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_int(body, "amount", true, 1, FUNDING_AMOUNT_MAX, &call->amount, &err) !=
            LODE_OK ||
        json_get_string(body, "currency", false, 16, &call->currency, &err) != LODE_OK)
        goto problem;
    idempotency_request_hash(req->method, req->path, (const uint8_t *)req->body, req->body_len,
                             call->request_hash);
    request_run_db(req, run_funding, after_funding);
    return;
problem:
    reply_problem(req, &err);
}

void handle_label_funding(struct request *req)
{
    funding_start(req, false);
}

/*
 * POST /v1/label-tasks/{id}/funding/withdrawals   body: {"amount", "currency"?}   header
 * Idempotency-Key   (the dataset's owner or an operator) moves amount from the task's budget
 * back to the owner's spendable money. 201 as for funding | 400 | 401 | 403 | 404 no task |
 * 409 the amount pays items leased to labelers now, or the key is still running | 422 more
 * than the budget, or the key was used for another request
 */
void handle_label_funding_withdrawal(struct request *req)
{
    funding_start(req, true);
}
