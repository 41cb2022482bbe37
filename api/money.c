/*
 * api/money.c — balances, statements, deposits, withdrawals and juror stakes (docs/money.md).
 *
 * Every money-moving POST requires an Idempotency-Key and runs one transaction: the key's
 * claim, the posting (through the payment adapter for deposits and withdrawals), the ledger
 * entry where money enters or leaves (deposit.credited, withdrawal.requested,
 * withdrawal.settled) or moves in or out of juror stake (juror.staked, juror.unstaked), the new
 * balance, and the stored response. A replay answers the stored
 * response again (with Idempotency-Replayed) and waits for the same ledger entry. Amounts are
 * JSON integers of minor units from 1 to LODE_MONEY_AMOUNT_MAX (exact in every JSON reader).
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/encoding.h"
#include "core/json.h"
#include "ledger/entry.h"
#include "market/payment.h"
#include "storage/account_store.h"
#include "storage/bond_store.h"
#include "storage/idempotency_store.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"

#define STATEMENT_LIMIT_DEFAULT 50

enum money_op { OP_DEPOSIT = 1, OP_WITHDRAW, OP_SETTLE, OP_STAKE, OP_UNSTAKE };

struct money_call {
    enum money_op op;
    int64_t account_id; /* whose money */
    int64_t withdrawal_id;
    int64_t amount;
    char currency[4];
    const char *reference;
    enum money_withdrawal_state state;
    const char *idem_key;
    uint8_t request_hash[32];
    struct recorded_reply reply; /* the result */
    /* reads */
    struct money_holding *holdings;
    size_t holding_count;
    struct money_line *lines;
    size_t line_count;
    int64_t cursor, next_cursor;
    int limit;
    enum money_withdrawal_state filter_state;
    struct money_withdrawal *withdrawals;
    size_t withdrawal_count;
};

static struct money_call *call_new(struct request *req)
{
    struct money_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

static bool is_operator(const struct request *req)
{
    return (req->principal.roles & ROLE_OPERATOR) != 0;
}


/* The account itself or an operator; else fills a 403. */
static bool may_see(struct request *req, int64_t account_id, struct lode_error *err)
{
    if (is_operator(req) || req->principal.account_id == account_id)
        return true;
    lode_error_set(err, LODE_EFORBIDDEN,
                   "account %lld may not see the money of account %lld: only the account itself"
                   " or an operator",
                   (long long)req->principal.account_id, (long long)account_id);
    return false;
}

/* ---- the moving transaction ---- */

static json_t *balance_json(const struct money_holding *h, const char *currency)
{
    return json_pack("{s:s, s:I, s:I}", "currency", currency, "available",
                     (json_int_t)(h != NULL ? h->available : 0), "juror_stake",
                     (json_int_t)(h != NULL ? h->juror_stake : 0));
}

static enum lode_code balance_after(struct db_conn *conn, struct request *req,
                                    struct money_call *call, json_t **out,
                                    struct lode_error *err)
{
    struct money_holding *h = NULL;
    size_t n = 0;
    enum lode_code rc = money_holdings(conn, call->account_id, req->job_arena, &h, &n, err);

    if (rc != LODE_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].currency, call->currency) == 0) {
            *out = balance_json(&h[i], call->currency);
            return *out != NULL ? LODE_OK : lode_error_set(err, LODE_ENOMEM, "out of memory");
        }
    *out = balance_json(NULL, call->currency);
    return *out != NULL ? LODE_OK : lode_error_set(err, LODE_ENOMEM, "out of memory");
}

static json_t *withdrawal_json(const struct money_withdrawal *w)
{
    return json_pack("{s:I, s:s, s:I, s:I, s:s, s:s, s:o, s:I, s:o, s:o, s:o}", "id",
                     (json_int_t)w->id, "adapter", w->adapter, "account",
                     (json_int_t)w->account_id, "amount", (json_int_t)w->amount, "currency",
                     w->currency, "state", money_withdrawal_state_name(w->state), "reference",
                     w->reference[0] != '\0' ? json_string(w->reference) : json_null(),
                     "posting", (json_int_t)w->posting_id, "refund_posting",
                     w->refund_posting_id > 0 ? json_integer(w->refund_posting_id) : json_null(),
                     "created_at", json_time_ms(w->created_at_ms), "settled_at",
                     json_time_ms(w->settled_at_ms));
}

static enum lode_code do_deposit(struct db_conn *conn, struct request *req,
                                 struct money_call *call, json_t **body, struct lode_error *err)
{
    const struct payment_adapter *adapter = payment_adapter_default();
    struct payment_actor actor = {req->principal.account_id, is_operator(req)};
    struct money_deposit d;
    uint8_t ref_hash[32];
    char ref_hex[HEX_ENCODED_BYTES(32)];
    enum lode_code rc;

    rc = adapter->deposit_credit(adapter, conn, &actor, call->account_id, call->amount,
                                 call->currency, call->reference, &d, err);
    if (rc != LODE_OK)
        return rc;
    crypto_hash_sha256(ref_hash, (const unsigned char *)d.reference, strlen(d.reference));
    hex_encode(ref_hash, sizeof ref_hash, ref_hex);
    rc = ledger_enqueue_json(conn,
                     json_pack("{s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "type", "deposit.credited",
                               "deposit", (json_int_t)d.id, "account", (json_int_t)d.account_id,
                               "amount", (json_int_t)d.amount, "currency", d.currency,
                               "adapter", d.adapter, "reference_sha256", ref_hex),
                     &call->reply.queue_id, err);
    if (rc != LODE_OK || (rc = money_deposit_link_ledger(conn, d.id, call->reply.queue_id, err)) !=
                             LODE_OK)
        return rc;
    *body = json_pack("{s:{s:I, s:s, s:I, s:I, s:s, s:s, s:I, s:o}, s:I}", "deposit", "id",
                      (json_int_t)d.id, "adapter", d.adapter, "account",
                      (json_int_t)d.account_id, "amount", (json_int_t)d.amount, "currency",
                      d.currency, "reference", d.reference, "posting", (json_int_t)d.posting_id,
                      "created_at", json_time_ms(d.created_at_ms), "posting",
                      (json_int_t)d.posting_id);
    return LODE_OK;
}

static enum lode_code do_withdraw(struct db_conn *conn, struct request *req,
                                  struct money_call *call, json_t **body, struct lode_error *err)
{
    const struct payment_adapter *adapter = payment_adapter_default();
    struct payment_actor actor = {req->principal.account_id, is_operator(req)};
    struct money_withdrawal w;
    enum lode_code rc;

    rc = adapter->withdrawal_start(adapter, conn, &actor, call->account_id, call->amount,
                                   call->currency, &w, err);
    if (rc != LODE_OK)
        return rc;
    rc = ledger_enqueue_json(conn,
                     json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "type", "withdrawal.requested",
                               "withdrawal", (json_int_t)w.id, "account",
                               (json_int_t)w.account_id, "amount", (json_int_t)w.amount,
                               "currency", w.currency, "adapter", w.adapter),
                     &call->reply.queue_id, err);
    if (rc != LODE_OK || (rc = money_withdrawal_link_ledger(conn, w.id, call->reply.queue_id, err)) !=
                             LODE_OK)
        return rc;
    *body = json_pack("{s:o, s:I}", "withdrawal", withdrawal_json(&w), "posting",
                      (json_int_t)w.posting_id);
    return LODE_OK;
}

static enum lode_code do_settle(struct db_conn *conn, struct request *req,
                                struct money_call *call, json_t **body, struct lode_error *err)
{
    struct payment_actor actor = {req->principal.account_id, is_operator(req)};
    const struct payment_adapter *adapter;
    struct money_withdrawal w;
    enum lode_code rc;

    if ((rc = money_withdrawal_get(conn, call->withdrawal_id, &w, err)) != LODE_OK)
        return rc;
    adapter = payment_adapter_find(w.adapter);
    if (adapter == NULL)
        return lode_error_set(err, LODE_EUNPROCESSABLE,
                              "withdrawal %lld belongs to adapter %s, which this server lacks",
                              (long long)w.id, w.adapter);
    rc = adapter->withdrawal_settle(adapter, conn, &actor, call->withdrawal_id, call->state,
                                    call->reference, &w, err);
    if (rc != LODE_OK)
        return rc;
    call->account_id = w.account_id;
    memcpy(call->currency, w.currency, 4);
    rc = ledger_enqueue_json(conn,
                     json_pack("{s:s, s:I, s:I, s:I, s:s, s:s}", "type", "withdrawal.settled",
                               "withdrawal", (json_int_t)w.id, "account",
                               (json_int_t)w.account_id, "amount", (json_int_t)w.amount,
                               "currency", w.currency, "state",
                               money_withdrawal_state_name(w.state)),
                     &call->reply.queue_id, err);
    if (rc != LODE_OK)
        return rc;
    *body = json_pack("{s:o, s:o}", "withdrawal", withdrawal_json(&w), "posting",
                      w.refund_posting_id > 0 ? json_integer(w.refund_posting_id) : json_null());
    return LODE_OK;
}

/* USER <-> JUROR_STAKE of the calling account. */
static enum lode_code do_stake(struct db_conn *conn, struct request *req,
                               struct money_call *call, json_t **body, struct lode_error *err)
{
    struct money_account user = {MONEY_ACCOUNT_USER, call->account_id};
    struct money_account stake = {MONEY_ACCOUNT_JUROR_STAKE, call->account_id};
    struct money_context ctx = {call->op == OP_STAKE ? "juror_stake" : "juror_unstake",
                                call->account_id};
    struct money_transfer t;
    int64_t posting = 0;
    enum lode_code rc;

    (void)req;
    memset(&t, 0, sizeof t);
    t.from = call->op == OP_STAKE ? user : stake;
    t.to = call->op == OP_STAKE ? stake : user;
    memcpy(t.currency, call->currency, 4);
    t.amount = call->amount;
    t.reason = call->op == OP_STAKE ? "juror_stake" : "juror_unstake";
    rc = money_post(conn, &t, 1, &ctx, &posting, err);
    if (rc == LODE_EUNPROCESSABLE && call->op == OP_UNSTAKE &&
        strncmp(err->message, "insufficient", 12) == 0)
        lode_error_pointer(err, "/amount");
    if (rc != LODE_OK)
        return rc;
    if (call->op == OP_UNSTAKE) {
        /* the stake is locked by the posting now: what stays must cover any pending draw */
        int64_t left = 0, locked = 0;
        if ((rc = money_balance(conn, stake, call->currency, &left, err)) != LODE_OK ||
            (rc = bond_juror_stake_locked(conn, call->account_id, call->currency, &locked,
                                          err)) != LODE_OK)
            return rc;
        if (left < locked) {
            lode_error_set(err, LODE_ECONFLICT,
                           "could not withdraw juror stake: %lld %s of it is in the pool of a"
                           " pending jury draw, and %lld would be left",
                           (long long)locked, call->currency, (long long)left);
            lode_error_pointer(err, "/amount");
            return err->code;
        }
    }
    /* who stands behind jury draws is public: the stake and its withdrawal are entries */
    rc = ledger_enqueue_json(conn,
                     json_pack("{s:s, s:I, s:I, s:s, s:I}", "type",
                               call->op == OP_STAKE ? "juror.staked" : "juror.unstaked",
                               "account", (json_int_t)call->account_id, "amount",
                               (json_int_t)call->amount, "currency", call->currency, "posting",
                               (json_int_t)posting),
                     &call->reply.queue_id, err);
    if (rc != LODE_OK)
        return rc;
    *body = json_pack("{s:I, s:I, s:s, s:s}", "posting", (json_int_t)posting, "amount",
                      (json_int_t)call->amount, "currency", call->currency, "direction",
                      call->op == OP_STAKE ? "user_to_juror_stake" : "juror_stake_to_user");
    return LODE_OK;
}

static enum lode_code move_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct money_call *call = req->user;
    struct idempotency_response replay;
    json_t *body = NULL, *balance = NULL;
    enum lode_code rc;

    recorded_reply_reset(&call->reply);
    rc = request_idempotency_claim(conn, req, call->idem_key, call->request_hash, &replay, err);
    if (rc != LODE_OK)
        return rc;
    if (replay.status != 0)
        return recorded_reply_replay(&call->reply, &replay, err);
    switch (call->op) {
    case OP_DEPOSIT:
        rc = do_deposit(conn, req, call, &body, err);
        break;
    case OP_WITHDRAW:
        rc = do_withdraw(conn, req, call, &body, err);
        break;
    case OP_SETTLE:
        rc = do_settle(conn, req, call, &body, err);
        break;
    case OP_STAKE:
    case OP_UNSTAKE:
        rc = do_stake(conn, req, call, &body, err);
        break;
    default:
        rc = lode_error_set(err, LODE_EINTERNAL, "unknown money operation");
    }
    if (rc != LODE_OK) {
        json_decref(body);
        return rc;
    }
    if (body == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not build the response");
    if ((rc = balance_after(conn, req, call, &balance, err)) != LODE_OK) {
        json_decref(body);
        return rc;
    }
    json_object_set_new(body, "balance", balance);
    if (call->reply.queue_id > 0)
        json_object_set_new(body, "ledger_queue_id", json_integer(call->reply.queue_id));
    call->reply.body = body;
    return request_idempotency_finish_json(conn, req->principal.account_id, call->idem_key, body,
                                           err);
}

static enum lode_code run_move(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct money_call *call = req->user;
    enum lode_code rc = db_tx(conn, DB_READ_COMMITTED, move_tx, req, &job->err);

    recorded_reply_keep(req, &call->reply, rc);
    return rc;
}

static void after_move(struct request *req)
{
    struct money_call *call = req->user;

    if (!request_job_failed(req))
        recorded_reply_send(req, &call->reply);
}

/* Reads the Idempotency-Key (required) and the request hash; false after filling err. */
static bool idempotency_read(struct request *req, struct money_call *call,
                             struct lode_error *err)
{
    if (!request_idempotency_key(req, true, &call->idem_key, err))
        return false;
    idempotency_request_hash(req->method, req->path, (const uint8_t *)req->body, req->body_len,
                             call->request_hash);
    return true;
}

/* Reads {"amount", "currency", and the named extra fields} from the body. */
static bool amount_read(struct request *req, struct money_call *call,
                        const char *const *fields, struct lode_error *err)
{
    const char *currency = NULL;
    json_t *body = request_json_body(req, err);

    if (body == NULL)
        return false;
    request_own_json(req, body);
    if (json_object_check_fields(body, fields, err) != LODE_OK ||
        json_get_int(body, "amount", true, 1, LODE_MONEY_AMOUNT_MAX, &call->amount, err) != LODE_OK ||
        json_get_string(body, "currency", true, 16, &currency, err) != LODE_OK)
        return false;
    if (!money_currency_is_valid(currency)) {
        lode_error_set(err, LODE_EINVAL,
                       "field \"currency\" must be three upper-case letters (ISO 4217)");
        lode_error_pointer(err, "/currency");
        return false;
    }
    memcpy(call->currency, currency, 4);
    if (json_object_get(body, "reference") != NULL &&
        json_get_string(body, "reference", false, MONEY_REFERENCE_BYTES_MAX, &call->reference, err) != LODE_OK)
        return false;
    return true;
}

/*
 * POST /v1/accounts/{id}/deposits   body: {"amount", "currency", "reference"}   (operators)
 * 201 {deposit, posting, balance, ledger} | 400 | 401 | 403 | 404 no account | 409 reference
 * already credited
 */
void handle_money_deposit(struct request *req)
{
    static const char *const fields[] = {"amount", "currency", "reference", NULL};
    struct money_call *call = call_new(req);
    struct lode_error err;

    call->op = OP_DEPOSIT;
    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK ||
        !idempotency_read(req, call, &err) || !amount_read(req, call, fields, &err))
        goto problem;
    if (call->reference == NULL) {
        lode_error_set(&err, LODE_EINVAL, "field \"reference\" is required");
        lode_error_pointer(&err, "/reference");
        goto problem;
    }
    request_run_db(req, run_move, after_move);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/accounts/{id}/withdrawals   body: {"amount", "currency"}   (the account, operators)
 * 201 {withdrawal, posting, balance, ledger} | 400 | 401 | 403 | 404 | 422 insufficient balance
 */
void handle_money_withdraw(struct request *req)
{
    static const char *const fields[] = {"amount", "currency", NULL};
    struct money_call *call = call_new(req);
    struct lode_error err;

    call->op = OP_WITHDRAW;
    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK)
        goto problem;
    if (!is_operator(req) && req->principal.account_id != call->account_id) {
        lode_error_set(&err, LODE_EFORBIDDEN,
                       "account %lld may not withdraw from account %lld: only the account"
                       " itself or an operator",
                       (long long)req->principal.account_id, (long long)call->account_id);
        goto problem;
    }
    if (!idempotency_read(req, call, &err) || !amount_read(req, call, fields, &err))
        goto problem;
    request_run_db(req, run_move, after_move);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/withdrawals/{id}/settle   body: {"state": "paid"|"failed", "reference"?}
 * (operators) 201 {withdrawal, posting (the refund's, or null), balance, ledger} | 400 | 401 |
 * 403 | 404 | 409 already settled
 */
void handle_money_settle(struct request *req)
{
    static const char *const fields[] = {"state", "reference", NULL};
    struct money_call *call = call_new(req);
    struct lode_error err;
    const char *state = NULL;
    json_t *body;

    call->op = OP_SETTLE;
    if (request_param_id(req, 0, &call->withdrawal_id, &err) != LODE_OK ||
        !idempotency_read(req, call, &err))
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "state", true, 16, &state, &err) != LODE_OK ||
        json_get_string(body, "reference", false, MONEY_REFERENCE_BYTES_MAX, &call->reference,
                        &err) != LODE_OK)
        goto problem;
    call->state = money_withdrawal_state_parse(state);
    if (call->state != MONEY_WITHDRAWAL_PAID && call->state != MONEY_WITHDRAWAL_FAILED) {
        lode_error_set(&err, LODE_EINVAL, "field \"state\" must be \"paid\" or \"failed\"");
        lode_error_pointer(&err, "/state");
        goto problem;
    }
    request_run_db(req, run_move, after_move);
    return;
problem:
    reply_problem(req, &err);
}

static void juror_stake(struct request *req, enum money_op op)
{
    static const char *const fields[] = {"amount", "currency", NULL};
    struct money_call *call = call_new(req);
    struct lode_error err;

    call->op = op;
    call->account_id = req->principal.account_id;
    if (!idempotency_read(req, call, &err) || !amount_read(req, call, fields, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_move, after_move);
}

/*
 * POST /v1/juror-stake   body: {"amount", "currency"}   (fact-checkers)
 * 201 {posting, amount, currency, direction, balance} | 400 | 401 | 403 | 422 insufficient
 */
void handle_money_juror_stake(struct request *req)
{
    juror_stake(req, OP_STAKE);
}

/*
 * POST /v1/juror-stake/withdrawals   body: {"amount", "currency"}   (any account)
 * 201 as above | 400 | 401 | 409 held for a pending jury draw | 422 more than the stake
 */
void handle_money_juror_unstake(struct request *req)
{
    juror_stake(req, OP_UNSTAKE);
}

/* ---- reads ---- */

static enum lode_code run_balance(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct money_call *call = req->user;
    struct account a;
    enum lode_code rc = account_get(conn, call->account_id, &a, &job->err);

    if (rc != LODE_OK)
        return rc;
    return money_holdings(conn, call->account_id, req->job_arena, &call->holdings,
                          &call->holding_count, &job->err);
}

static void after_balance(struct request *req)
{
    struct money_call *call = req->user;
    json_t *list;

    if (request_job_failed(req))
        return;
    list = json_array();
    for (size_t i = 0; i < call->holding_count; i++)
        json_array_append_new(list, balance_json(&call->holdings[i], call->holdings[i].currency));
    reply_json(req, 200,
               json_pack("{s:I, s:o}", "account", (json_int_t)call->account_id, "balances",
                         list));
}

/* GET /v1/accounts/{id}/balance   (the account, operators)   200 | 401 | 403 | 404 */
void handle_money_balance(struct request *req)
{
    struct money_call *call = call_new(req);
    struct lode_error err;

    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK ||
        !may_see(req, call->account_id, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_balance, after_balance);
}

static enum lode_code run_statement(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct money_call *call = req->user;
    struct account a;
    enum lode_code rc = account_get(conn, call->account_id, &a, &job->err);

    if (rc != LODE_OK)
        return rc;
    return money_statement(conn, call->account_id, call->cursor, call->limit, req->job_arena,
                           &call->lines, &call->line_count, &call->next_cursor, &job->err);
}

static void after_statement(struct request *req)
{
    struct money_call *call = req->user;
    json_t *list;

    if (request_job_failed(req))
        return;
    list = json_array();
    for (size_t i = 0; i < call->line_count; i++) {
        const struct money_line *l = &call->lines[i];
        json_array_append_new(
            list, json_pack("{s:I, s:I, s:s, s:{s:s, s:I}, s:s, s:I, s:I, s:s, s:{s:s, s:I},"
                            " s:o}",
                            "id", (json_int_t)l->id, "posting", (json_int_t)l->posting_id,
                            "account_kind", money_account_kind_name(l->account.kind),
                            "counterparty", "kind",
                            money_account_kind_name(l->counterparty.kind) != NULL
                                ? money_account_kind_name(l->counterparty.kind)
                                : "unknown",
                            "id", (json_int_t)l->counterparty.id, "currency", l->currency,
                            "delta", (json_int_t)l->delta, "balance_after",
                            (json_int_t)l->balance_after, "reason", l->reason, "context",
                            "kind", l->context_kind, "id", (json_int_t)l->context_id,
                            "created_at", json_time_ms(l->created_at_ms)));
    }
    reply_json(req, 200,
               json_pack("{s:I, s:o, s:o}", "account", (json_int_t)call->account_id, "lines",
                         list, "next_cursor",
                         call->next_cursor > 0
                             ? json_string(arena_sprintf(req->arena, "%lld",
                                                         (long long)call->next_cursor))
                             : json_null()));
}

/*
 * GET /v1/accounts/{id}/statement?cursor=&limit=   (the account, operators)
 * 200 {account, lines, next_cursor} | 400 | 401 | 403 | 404
 */
void handle_money_statement(struct request *req)
{
    struct money_call *call = call_new(req);
    struct lode_error err;
    const char *v = NULL;

    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK ||
        !may_see(req, call->account_id, &err))
        goto problem;
    call->limit = STATEMENT_LIMIT_DEFAULT;
    if (!request_query(req, "limit", &v, &err))
        goto problem;
    if (v != NULL) {
        char *end = NULL;
        long long n;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno != 0 || n < 1 || n > MONEY_STATEMENT_LIMIT_MAX) {
            lode_error_set(&err, LODE_EINVAL, "query parameter \"limit\" must be from 1 to %d",
                           MONEY_STATEMENT_LIMIT_MAX);
            lode_error_pointer(&err, "limit");
            goto problem;
        }
        call->limit = (int)n;
    }
    if (!request_query(req, "cursor", &v, &err))
        goto problem;
    if (v != NULL) {
        char *end = NULL;
        long long n;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n < 0) {
            lode_error_set(&err, LODE_EINVAL,
                           "query parameter \"cursor\" must be a cursor this server issued");
            lode_error_pointer(&err, "cursor");
            goto problem;
        }
        call->cursor = n;
    }
    request_run_db(req, run_statement, after_statement);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- GET /v1/withdrawals ---- */

/* Reads an optional decimal query parameter within [min, max]; false after filling err. */
static bool query_int(struct request *req, const char *name, int64_t min, int64_t max,
                      const char *what, int64_t *out, struct lode_error *err)
{
    const char *v = NULL;
    char *end = NULL;
    long long n;

    if (!request_query(req, name, &v, err))
        return false;
    if (v == NULL)
        return true;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n < min || n > max) {
        lode_error_set(err, LODE_EINVAL, "query parameter \"%s\" must be %s", name, what);
        lode_error_pointer(err, name);
        return false;
    }
    *out = n;
    return true;
}

static enum lode_code run_withdrawals(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct money_call *call = req->user;

    return money_withdrawals_list(conn, call->filter_state, call->account_id, call->cursor,
                                  call->limit, req->job_arena, &call->withdrawals,
                                  &call->withdrawal_count, &call->next_cursor, &job->err);
}

static void after_withdrawals(struct request *req)
{
    struct money_call *call = req->user;
    json_t *list;

    if (request_job_failed(req))
        return;
    list = json_array();
    for (size_t i = 0; i < call->withdrawal_count; i++)
        json_array_append_new(list, withdrawal_json(&call->withdrawals[i]));
    reply_json(req, 200,
               json_pack("{s:o, s:o}", "items", list, "next_cursor",
                         call->next_cursor > 0
                             ? json_string(arena_sprintf(req->arena, "%lld",
                                                         (long long)call->next_cursor))
                             : json_null()));
}

/*
 * GET /v1/withdrawals?state=&account=&cursor=&limit=   operators see every account's, others
 * their own (account defaults to, and must be, the caller). 200 {items, next_cursor} | 400 |
 * 401 | 403
 */
void handle_money_withdrawals_list(struct request *req)
{
    struct money_call *call = call_new(req);
    struct lode_error err;
    const char *state = NULL;
    int64_t limit = STATEMENT_LIMIT_DEFAULT;

    if (!request_query(req, "state", &state, &err))
        goto problem;
    if (state != NULL) {
        call->filter_state = money_withdrawal_state_parse(state);
        if (call->filter_state == 0) {
            lode_error_set(&err, LODE_EINVAL,
                           "query parameter \"state\" must be requested, paid or failed");
            lode_error_pointer(&err, "state");
            goto problem;
        }
    }
    if (!query_int(req, "account", 1, INT64_MAX, "an account id", &call->account_id, &err) ||
        !query_int(req, "limit", 1, MONEY_STATEMENT_LIMIT_MAX, "from 1 to 500", &limit, &err) ||
        !query_int(req, "cursor", 0, INT64_MAX, "a cursor this server issued", &call->cursor,
                   &err))
        goto problem;
    call->limit = (int)limit;
    if (!is_operator(req)) {
        if (call->account_id == 0)
            call->account_id = req->principal.account_id;
        if (!may_see(req, call->account_id, &err))
            goto problem;
    }
    request_run_db(req, run_withdrawals, after_withdrawals);
    return;
problem:
    reply_problem(req, &err);
}
