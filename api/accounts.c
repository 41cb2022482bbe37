/*
 * api/accounts.c — accounts, API tokens and Ed25519 public keys.
 *
 * An account may read and manage itself; an operator may manage every account. Tokens are
 * returned in clear exactly once, in the response that creates them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/encoding.h"
#include "core/json.h"
#include "ledger/entry.h"
#include "storage/ledger_store.h"

#define LIST_LIMIT_DEFAULT 50
#define LIST_LIMIT_MAX 200

/* Per-request state of these handlers, in the request's arena. */
struct accounts_call {
    int64_t account_id;
    int64_t token_id;
    int64_t after_id;
    int limit;
    const char *name;
    unsigned roles;
    uint8_t public_key[32];
    int count;
    struct account account;
    struct account *accounts;
    struct api_token token;
    struct api_token *tokens;
    char token_text[TOKEN_TEXT_BYTES];
    struct account_key key;
    struct account_key *keys;
    int64_t queue_id; /* the key.registered ledger entry */
};

static struct accounts_call *call_new(struct request *req)
{
    struct accounts_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

static json_t *roles_json(unsigned roles)
{
    json_t *a = json_array();
    for (unsigned bit = 1; bit <= ROLE_OPERATOR; bit <<= 1)
        if (roles & bit)
            json_array_append_new(a, json_string(account_role_name(bit)));
    return a;
}

static json_t *account_json(const struct account *a)
{
    return json_pack("{s:I, s:s, s:o, s:o}", "id", (json_int_t)a->id, "name", a->name, "roles",
                     roles_json(a->roles), "created_at", json_time_ms(a->created_at_ms));
}

static json_t *token_json(const struct api_token *t)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)t->id,
                     "account_id", (json_int_t)t->account_id, "name", t->name, "prefix",
                     t->prefix, "created_at", json_time_ms(t->created_at_ms), "last_used_at",
                     json_time_ms(t->last_used_at_ms), "revoked_at", json_time_ms(t->revoked_at_ms));
}

static json_t *key_json(const struct account_key *k)
{
    char b64[BASE64_ENCODED_BYTES(32)];
    base64_encode(k->public_key, 32, b64);
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)k->id,
                     "account_id", (json_int_t)k->account_id, "algorithm", "ed25519",
                     "public_key", b64, "label", k->label, "created_at",
                     json_time_ms(k->created_at_ms), "revoked_at", json_time_ms(k->revoked_at_ms));
}

/* Resolves {id} and checks that the caller may act on that account. */
static bool target_account(struct request *req, struct accounts_call *call)
{
    struct lode_error err;

    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return false;
    }
    if (call->account_id != req->principal.account_id &&
        (req->principal.roles & ROLE_OPERATOR) == 0) {
        lode_error_set(&err, LODE_EFORBIDDEN,
                       "account %lld may not act on account %lld: only itself or an operator",
                       (long long)req->principal.account_id, (long long)call->account_id);
        reply_problem(req, &err);
        return false;
    }
    return true;
}

static bool parse_limit_cursor(struct request *req, struct accounts_call *call)
{
    struct lode_error err;
    const char *limit = NULL, *cursor = NULL;

    call->limit = LIST_LIMIT_DEFAULT;
    if (!request_query(req, "limit", &limit, &err) || !request_query(req, "cursor", &cursor, &err)) {
        reply_problem(req, &err);
        return false;
    }
    if (limit != NULL) {
        char *end;
        long n = strtol(limit, &end, 10);
        if (*limit == '\0' || *end != '\0' || n < 1 || n > LIST_LIMIT_MAX) {
            lode_error_set(&err, LODE_EINVAL, "query parameter \"limit\" must be from 1 to %d",
                           LIST_LIMIT_MAX);
            lode_error_pointer(&err, "limit");
            reply_problem(req, &err);
            return false;
        }
        call->limit = (int)n;
    }
    if (cursor != NULL) {
        char *end;
        long long n = strtoll(cursor, &end, 10);
        if (*cursor == '\0' || *end != '\0' || n < 0) {
            lode_error_set(&err, LODE_EINVAL, "query parameter \"cursor\" is not a cursor this "
                                              "server issued");
            lode_error_pointer(&err, "cursor");
            reply_problem(req, &err);
            return false;
        }
        call->after_id = n;
    }
    return true;
}

/* ---- GET /v1/me, GET /v1/accounts/{id} ---- */

static enum lode_code run_account_get(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return account_get(conn, call->account_id, &call->account, &job->err);
}

static void after_account_get(struct request *req)
{
    struct accounts_call *call = req->user;
    if (!request_job_failed(req))
        reply_json(req, 200, account_json(&call->account));
}

void handle_me(struct request *req)
{
    struct accounts_call *call = call_new(req);
    call->account_id = req->principal.account_id;
    request_run_db(req, run_account_get, after_account_get);
}

void handle_accounts_get(struct request *req)
{
    struct accounts_call *call = call_new(req);
    if (target_account(req, call))
        request_run_db(req, run_account_get, after_account_get);
}

/* ---- POST /v1/accounts ---- */

static enum lode_code run_account_create(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return account_create(conn, call->name, call->roles, &call->account, &job->err);
}

static void after_account_create(struct request *req)
{
    struct accounts_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_header(req, "location",
                 arena_sprintf(req->arena, "/v1/accounts/%lld", (long long)call->account.id));
    reply_json(req, 201, account_json(&call->account));
}

void handle_accounts_create(struct request *req)
{
    static const char *const fields[] = {"name", "roles", NULL};
    struct accounts_call *call = call_new(req);
    struct lode_error err;
    json_t *body = request_json_body(req, &err);
    json_t *roles, *role;
    size_t i;

    if (body == NULL)
        goto problem;
    request_own_json(req, body);
    if (json_object_check_fields(body, fields, &err) != LODE_OK ||
        json_get_string(body, "name", true, LODE_NAME_BYTES_MAX, &call->name, &err) != LODE_OK)
        goto problem;
    if (call->name[0] == '\0') {
        lode_error_set(&err, LODE_EINVAL, "field \"name\" must not be empty");
        lode_error_pointer(&err, "/name");
        goto problem;
    }
    roles = json_object_get(body, "roles");
    if (!json_is_array(roles) || json_array_size(roles) == 0) {
        lode_error_set(&err, LODE_EINVAL, "field \"roles\" must be a non-empty array of role names");
        lode_error_pointer(&err, "/roles");
        goto problem;
    }
    json_array_foreach(roles, i, role) {
        unsigned bit = json_is_string(role) ? account_role_parse(json_string_value(role)) : 0;
        if (bit == 0) {
            lode_error_set(&err, LODE_EINVAL,
                           "roles[%zu] is not one of contributor, labeler, trainer, publisher, "
                           "fact-checker, operator", i);
            lode_error_pointer(&err, "/roles");
            goto problem;
        }
        call->roles |= bit;
    }
    request_run_db(req, run_account_create, after_account_create);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- GET /v1/accounts ---- */

static enum lode_code run_account_list(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return account_list(conn, call->after_id, call->limit, call->accounts, &call->count,
                        &job->err);
}

static json_t *page_json(json_t *items, int count, int limit, int64_t last_id)
{
    json_t *page = json_pack("{s:o}", "items", items);
    if (count == limit)
        json_object_set_new(page, "next_cursor", json_sprintf("%lld", (long long)last_id));
    else
        json_object_set_new(page, "next_cursor", json_null());
    return page;
}

static void after_account_list(struct request *req)
{
    struct accounts_call *call = req->user;
    json_t *items;

    if (request_job_failed(req))
        return;
    items = json_array();
    for (int i = 0; i < call->count; i++)
        json_array_append_new(items, account_json(&call->accounts[i]));
    reply_json(req, 200, page_json(items, call->count, call->limit,
                                   call->count > 0 ? call->accounts[call->count - 1].id : 0));
}

void handle_accounts_list(struct request *req)
{
    struct accounts_call *call = call_new(req);
    if (!parse_limit_cursor(req, call))
        return;
    call->accounts = arena_calloc(req->arena, (size_t)call->limit, sizeof *call->accounts);
    request_run_db(req, run_account_list, after_account_list);
}

/* ---- tokens ---- */

static enum lode_code run_token_create(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return token_create(conn, call->account_id, call->name, &call->token, call->token_text,
                        &job->err);
}

static void after_token_create(struct request *req)
{
    struct accounts_call *call = req->user;
    json_t *body;

    if (request_job_failed(req))
        return;
    body = token_json(&call->token);
    json_object_set_new(body, "token", json_string(call->token_text));
    reply_header(req, "cache-control", "no-store");
    reply_json(req, 201, body);
}

void handle_tokens_create(struct request *req)
{
    static const char *const fields[] = {"name", NULL};
    struct accounts_call *call = call_new(req);
    struct lode_error err;
    json_t *body;

    if (!target_account(req, call))
        return;
    call->name = "";
    if (req->body_len == 0) { /* the name is optional, and so is the body */
        request_run_db(req, run_token_create, after_token_create);
        return;
    }
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "name", false, LODE_NAME_BYTES_MAX, &call->name, &err) != LODE_OK)
        goto problem;
    request_run_db(req, run_token_create, after_token_create);
    return;
problem:
    reply_problem(req, &err);
}

static enum lode_code run_token_list(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return token_list(conn, call->account_id, call->limit, call->tokens, &call->count, &job->err);
}

static void after_token_list(struct request *req)
{
    struct accounts_call *call = req->user;
    json_t *items;

    if (request_job_failed(req))
        return;
    items = json_array();
    for (int i = 0; i < call->count; i++)
        json_array_append_new(items, token_json(&call->tokens[i]));
    reply_json(req, 200, json_pack("{s:o}", "items", items));
}

void handle_tokens_list(struct request *req)
{
    struct accounts_call *call = call_new(req);
    if (!target_account(req, call))
        return;
    call->limit = LIST_LIMIT_MAX;
    call->tokens = arena_calloc(req->arena, LIST_LIMIT_MAX, sizeof *call->tokens);
    request_run_db(req, run_token_list, after_token_list);
}

static enum lode_code run_token_revoke(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return token_revoke(conn, call->account_id, call->token_id, &job->err);
}

static void after_token_revoke(struct request *req)
{
    if (!request_job_failed(req))
        reply_empty(req, 204);
}

void handle_tokens_revoke(struct request *req)
{
    struct accounts_call *call = call_new(req);
    struct lode_error err;

    if (!target_account(req, call))
        return;
    if (request_param_id(req, 1, &call->token_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_token_revoke, after_token_revoke);
}

/* ---- keys ---- */

/* In one transaction: the key row and its key.registered ledger entry, so the public log binds
 * every contributor key to its account. */
static enum lode_code key_register_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct accounts_call *call = arg;
    char pk[BASE64_ENCODED_BYTES(32)];
    enum lode_code rc;
    json_t *entry;

    rc = key_register(conn, call->account_id, call->public_key, call->name, &call->key, err);
    if (rc != LODE_OK)
        return rc;
    base64_encode(call->public_key, 32, pk);
    entry = json_pack("{s:s, s:I, s:I, s:s, s:s}", "type", "key.registered", "account",
                      (json_int_t)call->account_id, "key_id", (json_int_t)call->key.id,
                      "algorithm", "ed25519", "public_key", pk);
    return ledger_enqueue_json(conn, entry, &call->queue_id, err);
}

static enum lode_code run_key_register(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return db_tx(conn, DB_READ_COMMITTED, key_register_tx, call, &job->err);
}

static void key_registered(struct request *req, void *state, const struct ledger_receipt *r,
                           size_t count, json_t *checkpoint)
{
    struct accounts_call *call = state;
    json_t *body = key_json(&call->key);

    (void)count;
    json_object_set_new(body, "ledger", ledger_receipt_json(r, checkpoint));
    reply_json(req, 201, body);
}

static void after_key_register(struct request *req)
{
    struct accounts_call *call = req->user;

    if (req->job.result == LODE_ECONFLICT) {
        struct lode_error err;
        lode_error_set(&err, LODE_ECONFLICT, "this public key is already registered");
        lode_error_pointer(&err, "/public_key");
        reply_problem(req, &err);
        return;
    }
    if (request_job_failed(req))
        return;
    ledger_await_receipts(req, &call->queue_id, 1, call, key_registered);
}

void handle_keys_create(struct request *req)
{
    static const char *const fields[] = {"public_key", "label", NULL};
    struct accounts_call *call = call_new(req);
    struct lode_error err;
    const char *pk = NULL;
    size_t n = 0;
    json_t *body;

    if (!target_account(req, call))
        return;
    call->name = "";
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "public_key", true, 64, &pk, &err) != LODE_OK ||
        json_get_string(body, "label", false, LODE_NAME_BYTES_MAX, &call->name, &err) != LODE_OK)
        goto problem;
    if (!base64_decode(pk, strlen(pk), call->public_key, sizeof call->public_key, &n) || n != 32) {
        lode_error_set(&err, LODE_EINVAL,
                       "field \"public_key\" must be the base64 of a 32-byte Ed25519 public key");
        lode_error_pointer(&err, "/public_key");
        goto problem;
    }
    request_run_db(req, run_key_register, after_key_register);
    return;
problem:
    reply_problem(req, &err);
}

static enum lode_code run_key_list(struct db_conn *conn, struct db_job *job)
{
    struct accounts_call *call = ((struct request *)job->arg)->user;
    return key_list(conn, call->account_id, call->limit, call->keys, &call->count, &job->err);
}

static void after_key_list(struct request *req)
{
    struct accounts_call *call = req->user;
    json_t *items;

    if (request_job_failed(req))
        return;
    items = json_array();
    for (int i = 0; i < call->count; i++)
        json_array_append_new(items, key_json(&call->keys[i]));
    reply_json(req, 200, json_pack("{s:o}", "items", items));
}

void handle_keys_list(struct request *req)
{
    struct accounts_call *call = call_new(req);
    if (!target_account(req, call))
        return;
    call->limit = LIST_LIMIT_MAX;
    call->keys = arena_calloc(req->arena, LIST_LIMIT_MAX, sizeof *call->keys);
    request_run_db(req, run_key_list, after_key_list);
}
