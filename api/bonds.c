/*
 * api/bonds.c — veracity bonds over HTTP: posting, challenges, commit-reveal votes, appeals,
 * the public jury data, reputation scores and the rules configuration (docs/bonds.md); and
 * the in-server scheduler that advances bonds past their deadlines and draws juries.
 *
 * Every action runs one transaction on a database worker (storage/bond_store.h): the engine's
 * decision, its money, its ledger entries and the new bond commit together or not at all; the
 * answer waits for the entries' receipts. Money-moving posts (bond, challenge, appeal) require
 * an Idempotency-Key; the stored answer holds the bond as it was and the queue ids of its
 * entries, so a replay answers the same bond with the same receipts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/log.h"
#include "reputation/reputation.h"
#include "storage/bond_store.h"
#include "storage/idempotency_store.h"
#include "storage/ledger_store.h"
#include "storage/money_store.h"

#define BOND_AMOUNT_MAX ((INT64_C(1) << 50) - 1) /* keeps every sum inside the ledger's ints */
#define LIST_LIMIT_DEFAULT 50

enum bond_action {
    ACTION_POST,
    ACTION_CHALLENGE,
    ACTION_COMMIT,
    ACTION_REVEAL,
    ACTION_APPEAL,
};

struct bonds_call {
    /* request (ordered by alignment: pointers and 64-bit values, then narrower fields) */
    int64_t bond_id;
    int64_t now_ms;
    struct bond_post_request post;
    int64_t stake;
    const char *evidence;
    const char *idem_key;
    /* results (job arena) */
    struct bond_row *row;
    struct bond_step *step;
    const char *view; /* the bond's JSON view, in the job arena (nothing to free if orphaned) */
    int64_t *queue_ids;
    size_t queue_count;
    /* reads */
    struct reputation_juror *pool;
    size_t pool_count;
    struct bond_entry *entries;
    size_t entry_count;
    int64_t *ids;
    size_t id_count;
    struct bond_row *rows;
    int64_t cursor;
    const char *state;
    struct reputation_config cfg;
    int64_t cfg_version;
    struct reputation_record records[REPUTATION_ROLE_COUNT];
    int64_t account_id;
    enum bond_action action;
    enum reputation_vote vote;
    int round;
    int limit;
    bool replayed;
    bool pool_drawn;
    bool has_subject;
    uint8_t hash[REPUTATION_HASH_BYTES]; /* commitment or salt */
    uint8_t request_hash[32];
    uint8_t pool_hash[REPUTATION_HASH_BYTES];
    uint8_t subject[32];
};

/* The request's call state, or NULL after answering the problem (out of memory). */
static struct bonds_call *call_new(struct request *req)
{
    struct bonds_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    if (call == NULL) {
        struct lode_error err;
        lode_error_set(&err, LODE_ENOMEM, "out of memory");
        reply_problem(req, &err);
        return NULL;
    }
    return call;
}

/* ---- views ---- */

/* The public view of a bond: the engine state with the currency's code, the subject, the
 * version and the scheduler's next deadline. Votes appear only once revealed and commitments
 * once committed, as in the ledger. */
static json_t *bond_view(const struct bond_row *row)
{
    json_t *v = reputation_bond_json(&row->engine);
    bool ok = v != NULL;

    if (ok)
        ok = json_object_set_new(v, "currency", json_string(row->currency)) == 0 &&
             json_object_set_new(v, "subject_kind",
                                 json_string(bond_subject_kind_name(row->subject_kind))) == 0 &&
             json_object_set_new(v, "subject_ref", json_string(row->subject_ref)) == 0 &&
             json_object_set_new(v, "version", json_integer((json_int_t)row->version)) == 0 &&
             json_object_set_new(v, "next_deadline_ms",
                                 row->next_deadline_ms == INT64_MAX
                                     ? json_null()
                                     : json_integer((json_int_t)row->next_deadline_ms)) == 0 &&
             json_object_set_new(v, "draw_error", row->draw_error[0] != '\0'
                                                      ? json_string(row->draw_error)
                                                      : json_null()) == 0 &&
             json_object_set_new(v, "config", reputation_config_json(&row->config)) == 0;
    if (!ok) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- actions: one transaction each ---- */

static enum lode_code act(struct db_conn *conn, struct bonds_call *call, int64_t actor,
                          struct lode_error *err)
{
    switch (call->action) {
    case ACTION_POST:
        call->post.publisher = actor;
        return bond_post(conn, &call->post, call->now_ms, call->row, call->step, err);
    case ACTION_CHALLENGE:
        return bond_challenge(conn, call->bond_id, actor, call->stake, call->evidence,
                              call->now_ms, call->row, call->step, err);
    case ACTION_COMMIT:
        return bond_commit(conn, call->bond_id, actor, call->hash, call->now_ms, call->row,
                           call->step, err);
    case ACTION_REVEAL:
        return bond_reveal(conn, call->bond_id, actor, call->vote, call->hash, call->now_ms,
                           call->row, call->step, err);
    case ACTION_APPEAL:
        return bond_appeal(conn, call->bond_id, actor, call->now_ms, call->row, call->step, err);
    }
    return lode_error_set(err, LODE_EINTERNAL, "unknown bond action");
}

/* Reads a stored answer {"bond": view, "queue_ids": [...]}. */
static enum lode_code replay_read(struct request *req, struct bonds_call *call,
                                  const struct idempotency_response *replay,
                                  struct lode_error *err)
{
    json_t *stored = json_loadb((const char *)replay->body, replay->body_bytes, 0, NULL);
    json_t *ids = stored != NULL ? json_object_get(stored, "queue_ids") : NULL;

    if (!json_is_array(ids) || !json_is_object(json_object_get(stored, "bond"))) {
        json_decref(stored);
        return lode_error_set(err, LODE_EINTERNAL, "could not read the stored response");
    }
    call->queue_count = json_array_size(ids);
    call->queue_ids = arena_calloc(req->job_arena, call->queue_count + 1, sizeof(int64_t));
    if (call->queue_ids == NULL) {
        json_decref(stored);
        return lode_error_set(err, LODE_ENOMEM, "could not hold the response");
    }
    for (size_t i = 0; i < call->queue_count; i++)
        call->queue_ids[i] = (int64_t)json_integer_value(json_array_get(ids, i));
    {
        char *text = json_dumps(json_object_get(stored, "bond"), JSON_COMPACT);
        call->view = text != NULL ? arena_strdup(req->job_arena, text) : NULL;
        free(text);
    }
    json_decref(stored);
    call->replayed = true;
    return call->view != NULL ? LODE_OK : lode_error_set(err, LODE_ENOMEM, "could not hold the response");
}

static enum lode_code action_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct bonds_call *call = req->user;
    int64_t actor = req->principal.account_id;
    enum lode_code rc;

    call->replayed = false;
    call->view = NULL;
    if (call->idem_key != NULL) {
        struct idempotency_response replay;
        rc = request_idempotency_claim(conn, req, call->idem_key, call->request_hash, &replay,
                                       err);
        if (rc != LODE_OK)
            return rc;
        if (replay.status != 0)
            return replay_read(req, call, &replay, err);
    }
    rc = act(conn, call, actor, err);
    if (rc != LODE_OK)
        return rc;
    {
        json_t *view = bond_view(call->row);
        char *text = view != NULL ? json_dumps(view, JSON_COMPACT) : NULL;
        json_decref(view);
        call->view = text != NULL ? arena_strdup(req->job_arena, text) : NULL;
        free(text);
        if (call->view == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not render the bond");
    }
    call->queue_ids = call->step->queue_ids;
    call->queue_count = call->step->queue_count;
    if (call->idem_key != NULL) {
        json_t *ids = json_array();
        json_t *stored;
        for (size_t i = 0; ids != NULL && i < call->queue_count; i++)
            json_array_append_new(ids, json_integer((json_int_t)call->queue_ids[i]));
        stored = ids != NULL ? json_pack("{s:o, s:o}", "bond", json_loads(call->view, 0, NULL),
                                         "queue_ids", ids)
                             : NULL;
        rc = request_idempotency_finish_json(conn, actor, call->idem_key, stored, err);
        json_decref(stored);
    }
    return rc;
}

static enum lode_code run_action(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    call->row = arena_calloc(req->job_arena, 1, sizeof *call->row);
    call->step = arena_calloc(req->job_arena, 1, sizeof *call->step);
    if (call->row == NULL || call->step == NULL)
        return lode_error_set(&job->err, LODE_ENOMEM, "could not hold the bond");
    /* deadlines are judged by the database's clock, the same for every replica */
    enum lode_code rc = db_now_ms(conn, &call->now_ms, &job->err);
    if (rc != LODE_OK)
        return rc;
    return db_tx(conn, DB_READ_COMMITTED, action_tx, req, &job->err);
}

static void action_recorded(struct request *req, void *state, const struct ledger_receipt *r,
                            size_t count, json_t *checkpoint)
{
    struct bonds_call *call = state;
    json_t *ledger = json_array();
    json_t *view = json_loads(call->view, 0, NULL);

    for (size_t i = 0; ledger != NULL && i < count; i++)
        json_array_append_new(ledger, ledger_receipt_json(&r[i], i + 1 == count
                                                                     ? checkpoint
                                                                     : json_incref(checkpoint)));
    if (count == 0)
        json_decref(checkpoint);
    if (call->action == ACTION_POST && view != NULL)
        reply_header(req, "location", arena_sprintf(req->arena, "/v1/bonds/%lld",
                                                    (long long)json_integer_value(
                                                        json_object_get(view, "id"))));
    if (call->replayed)
        reply_header(req, "idempotent-replayed", "true");
    reply_json(req, 201, json_pack("{s:o, s:o}", "bond", view != NULL ? view : json_null(),
                                   "ledger", ledger != NULL ? ledger : json_null()));
}

static void after_action(struct request *req)
{
    struct bonds_call *call = req->user;

    /* answering a failure may end the request: nothing of it is touched afterwards */
    if (request_job_failed(req))
        return;
    ledger_await_receipts(req, call->queue_ids, call->queue_count, call, action_recorded);
}

/* Checks the Idempotency-Key (required for money-moving actions) and runs the action. */
static void action_start(struct request *req, struct bonds_call *call, bool key_required)
{
    struct lode_error err;

    if (!request_idempotency_key(req, key_required, &call->idem_key, &err)) {
        reply_problem(req, &err);
        return;
    }
    if (call->idem_key != NULL) {
        idempotency_request_hash(req->method, req->path, (const uint8_t *)req->body,
                                 req->body_len, call->request_hash);
    }
    request_run_db(req, run_action, after_action);
}

static bool read_hex32(const json_t *body, const char *name, uint8_t out[32],
                       struct lode_error *err)
{
    const char *hex = NULL;
    size_t n = 0;
    if (json_get_string(body, name, true, 64, &hex, err) != LODE_OK)
        return false;
    if (strlen(hex) != 64 || !hex_decode(hex, 64, out, 32, &n) || n != 32) {
        lode_error_set(err, LODE_EINVAL, "%s must be 64 hex digits", name);
        lode_error_pointer(err, name);
        return false;
    }
    return true;
}

/*
 * POST /v1/bonds   {"subject": {"kind": "dataset"|"item"|"claim", "ref": "..."}, "statement":
 * "human-made", "amount": N, "currency": "EUR", "window_ms": N}   (publishers; Idempotency-Key)
 * 201 bond with the bond.posted receipt | 400 | 404 subject | 422 below the minimum, window out
 * of range, insufficient balance
 */
void handle_bonds_post(struct request *req)
{
    static const char *const fields[] = {"subject", "statement", "amount", "currency",
                                         "window_ms", NULL};
    static const char *const subject_fields[] = {"kind", "ref", NULL};
    struct bonds_call *call = call_new(req);
    const char *currency = NULL, *kind = NULL;
    const json_t *subject;
    struct lode_error err;
    json_t *body;

    if (call == NULL)
        return;
    call->action = ACTION_POST;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "statement", true, LODE_BOND_STATEMENT_BYTES_MAX,
                        &call->post.statement, &err) != LODE_OK ||
        json_get_int(body, "amount", true, 1, BOND_AMOUNT_MAX, &call->post.amount, &err) !=
            LODE_OK ||
        json_get_string(body, "currency", true, 3, &currency, &err) != LODE_OK ||
        json_get_int(body, "window_ms", true, 1, INT64_MAX / 4, &call->post.window_ms, &err) !=
            LODE_OK)
        goto problem;
    if (!money_currency_is_valid(currency)) {
        lode_error_set(&err, LODE_EINVAL, "currency must be three upper-case letters");
        lode_error_pointer(&err, "/currency");
        goto problem;
    }
    memcpy(call->post.currency, currency, 4);
    subject = json_object_get(body, "subject");
    if (!json_is_object(subject)) {
        lode_error_set(&err, LODE_EINVAL, "subject must be an object {kind, ref}");
        lode_error_pointer(&err, "/subject");
        goto problem;
    }
    if (json_object_check_fields(subject, subject_fields, &err) != LODE_OK ||
        json_get_string(subject, "kind", true, 16, &kind, &err) != LODE_OK ||
        json_get_string(subject, "ref", true, LODE_BOND_SUBJECT_BYTES_MAX, &call->post.subject_ref,
                        &err) != LODE_OK) {
        lode_error_pointer(&err, "/subject");
        goto problem;
    }
    if (!bond_subject_kind_parse(kind, &call->post.subject_kind)) {
        lode_error_set(&err, LODE_EINVAL, "subject.kind must be dataset, item or claim");
        lode_error_pointer(&err, "/subject/kind");
        goto problem;
    }
    if (call->post.subject_ref[0] == '\0') {
        lode_error_set(&err, LODE_EINVAL, "subject.ref must not be empty");
        lode_error_pointer(&err, "/subject/ref");
        goto problem;
    }
    action_start(req, call, true);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/bonds/{id}/challenges   {"stake": N, "evidence": "text or URL"}   (fact-checkers;
 * Idempotency-Key) 201 | 403 own bond | 404 | 409 already challenged | 410 window closed |
 * 422 stake below the rule, insufficient balance
 */
void handle_bonds_challenge(struct request *req)
{
    static const char *const fields[] = {"stake", "evidence", NULL};
    struct bonds_call *call = call_new(req);
    struct lode_error err;
    json_t *body;

    if (call == NULL)
        return;
    call->action = ACTION_CHALLENGE;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_int(body, "stake", true, 1, BOND_AMOUNT_MAX, &call->stake, &err) != LODE_OK ||
        json_get_string(body, "evidence", true, LODE_BOND_EVIDENCE_BYTES_MAX, &call->evidence,
                        &err) != LODE_OK)
        goto problem;
    if (call->evidence[0] == '\0') {
        lode_error_set(&err, LODE_EINVAL, "evidence must not be empty");
        lode_error_pointer(&err, "/evidence");
        goto problem;
    }
    action_start(req, call, true);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/bonds/{id}/commitments   {"commitment": "64 hex"}   (the bond's jurors)
 * 201 | 403 not a juror | 409 voted already / wrong phase | 410 deadline passed
 */
void handle_bonds_commit(struct request *req)
{
    static const char *const fields[] = {"commitment", NULL};
    struct bonds_call *call = call_new(req);
    struct lode_error err;
    json_t *body;

    if (call == NULL)
        return;
    call->action = ACTION_COMMIT;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        !read_hex32(body, "commitment", call->hash, &err))
        goto problem;
    action_start(req, call, false);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/bonds/{id}/reveals   {"vote": "uphold"|"reject", "salt": "64 hex"}   (jurors)
 * 201 | 400 bad vote | 403 | 409 never committed / revealed already | 410 | 422 mismatch
 */
void handle_bonds_reveal(struct request *req)
{
    static const char *const fields[] = {"vote", "salt", NULL};
    struct bonds_call *call = call_new(req);
    const char *vote = NULL;
    struct lode_error err;
    json_t *body;

    if (call == NULL)
        return;
    call->action = ACTION_REVEAL;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK)
        goto problem;
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "vote", true, 16, &vote, &err) != LODE_OK ||
        !read_hex32(body, "salt", call->hash, &err))
        goto problem;
    if (strcmp(vote, "uphold") == 0)
        call->vote = REPUTATION_VOTE_UPHOLD;
    else if (strcmp(vote, "reject") == 0)
        call->vote = REPUTATION_VOTE_REJECT;
    else {
        lode_error_set(&err, LODE_EINVAL, "vote must be uphold or reject");
        lode_error_pointer(&err, "/vote");
        goto problem;
    }
    action_start(req, call, false);
    return;
problem:
    reply_problem(req, &err);
}

/*
 * POST /v1/bonds/{id}/appeals   {}   (the first-round loser; Idempotency-Key)
 * 201 | 403 not a party or the winner | 409 nothing to appeal / second appeal | 410 | 422
 */
void handle_bonds_appeal(struct request *req)
{
    static const char *const fields[] = {NULL};
    struct bonds_call *call = call_new(req);
    struct lode_error err;
    json_t *body;

    if (call == NULL)
        return;
    call->action = ACTION_APPEAL;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK)
        goto problem;
    if (req->body_len > 0) {
        body = request_json_fields(req, fields, &err);
        if (body == NULL)
            goto problem;
    }
    action_start(req, call, true);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- reads ---- */

static enum lode_code run_get(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    enum lode_code rc;

    call->row = arena_calloc(req->job_arena, 1, sizeof *call->row);
    if (call->row == NULL)
        return lode_error_set(&job->err, LODE_ENOMEM, "could not hold the bond");
    rc = bond_get(conn, call->bond_id, call->row, &job->err);
    if (rc == LODE_OK)
        rc = bond_entries(conn, call->bond_id, req->job_arena, &call->entries,
                          &call->entry_count, &job->err);
    return rc;
}

static json_t *entries_json(const struct bond_entry *entries, size_t count)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < count; i++) {
        json_t *entry = json_loads(entries[i].entry, 0, NULL);
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o}", "type", entries[i].type, "index",
                                             entries[i].index >= 0
                                                 ? json_integer((json_int_t)entries[i].index)
                                                 : json_null(),
                                             "entry", entry != NULL ? entry : json_null()));
    }
    return arr;
}

static void after_get(struct request *req)
{
    struct bonds_call *call = req->user;
    json_t *view;

    if (request_job_failed(req))
        return;
    view = bond_view(call->row);
    if (view != NULL)
        json_object_set_new(view, "entries", entries_json(call->entries, call->entry_count));
    reply_json(req, 200, view);
}

/* GET /v1/bonds/{id}   200 the bond with its ledger entries | 404 */
void handle_bonds_get(struct request *req)
{
    struct bonds_call *call = call_new(req);
    struct lode_error err;

    if (call == NULL)
        return;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_get, after_get);
}

static enum lode_code run_list(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    enum lode_code rc = bond_list(conn, call->cursor, call->limit, call->state,
                                  call->has_subject ? call->subject : NULL, req->job_arena,
                                  &call->ids, &call->id_count, &job->err);
    if (rc != LODE_OK)
        return rc;
    call->rows = arena_calloc(req->job_arena, call->id_count + 1, sizeof *call->rows);
    if (call->rows == NULL)
        return lode_error_set(&job->err, LODE_ENOMEM, "could not hold the bonds");
    for (size_t i = 0; rc == LODE_OK && i < call->id_count; i++)
        rc = bond_get(conn, call->ids[i], &call->rows[i], &job->err);
    return rc;
}

static void after_list(struct request *req)
{
    struct bonds_call *call = req->user;
    json_t *items;

    if (request_job_failed(req))
        return;
    items = json_array();
    for (size_t i = 0; items != NULL && i < call->id_count; i++)
        json_array_append_new(items, bond_view(&call->rows[i]));
    reply_json(req, 200,
               json_pack("{s:o, s:o}", "items", items, "next_cursor",
                         call->id_count == (size_t)call->limit && call->id_count > 0
                             ? json_sprintf("%lld", (long long)call->ids[call->id_count - 1])
                             : json_null()));
}

/* GET /v1/bonds?cursor=&limit=&state=&subject=   (subject: hex SHA-256 of "kind:ref") */
void handle_bonds_list(struct request *req)
{
    struct bonds_call *call = call_new(req);
    const char *cursor = NULL, *limit = NULL, *state = NULL, *subject = NULL;
    struct lode_error err;
    char *end = NULL;

    if (call == NULL)
        return;
    call->limit = LIST_LIMIT_DEFAULT;
    if (!request_query(req, "cursor", &cursor, &err) || !request_query(req, "limit", &limit, &err) ||
        !request_query(req, "state", &state, &err) || !request_query(req, "subject", &subject, &err))
        goto problem;
    if (cursor != NULL) {
        long long v = strtoll(cursor, &end, 10);
        if (end == cursor || *end != '\0' || v < 0) {
            lode_error_set(&err, LODE_EINVAL, "cursor must be a bond id");
            lode_error_pointer(&err, "cursor");
            goto problem;
        }
        call->cursor = v;
    }
    if (limit != NULL) {
        long v = strtol(limit, &end, 10);
        if (end == limit || *end != '\0' || v < 1 || v > BOND_LIST_LIMIT_MAX) {
            lode_error_set(&err, LODE_EINVAL, "limit must be 1 to %d", BOND_LIST_LIMIT_MAX);
            lode_error_pointer(&err, "limit");
            goto problem;
        }
        call->limit = (int)v;
    }
    if (state != NULL) {
        bool known = false;
        for (int s = REPUTATION_BOND_POSTED; s <= REPUTATION_BOND_RESOLVED; s++)
            known = known || strcmp(state, reputation_bond_state_name((enum reputation_bond_state)s)) == 0;
        if (!known) {
            lode_error_set(&err, LODE_EINVAL, "state must be posted, awaiting_draw, commit, "
                                              "reveal, appealable or resolved");
            lode_error_pointer(&err, "state");
            goto problem;
        }
        call->state = state;
    }
    if (subject != NULL) {
        size_t n = 0;
        if (strlen(subject) != 64 || !hex_decode(subject, 64, call->subject, 32, &n) || n != 32) {
            lode_error_set(&err, LODE_EINVAL, "subject must be 64 hex digits");
            lode_error_pointer(&err, "subject");
            goto problem;
        }
        call->has_subject = true;
    }
    request_run_db(req, run_list, after_list);
    return;
problem:
    reply_problem(req, &err);
}

/* The bond, the round's pool and the bond's entries from one snapshot, so the pool served is
 * the one the latest filing entry hashes even while the scheduler renews it. */
static enum lode_code jury_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct bonds_call *call = req->user;
    enum lode_code rc;

    call->row = arena_calloc(req->job_arena, 1, sizeof *call->row);
    if (call->row == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the bond");
    rc = bond_get(conn, call->bond_id, call->row, err);
    if (rc == LODE_OK)
        rc = bond_pool_get(conn, call->bond_id, call->round, req->job_arena, &call->pool,
                           &call->pool_count, call->pool_hash, &call->pool_drawn, err);
    if (rc == LODE_OK)
        rc = bond_entries(conn, call->bond_id, req->job_arena, &call->entries,
                          &call->entry_count, err);
    return rc;
}

static enum lode_code run_jury(struct db_conn *conn, struct db_job *job)
{
    return db_tx(conn, DB_REPEATABLE_READ, jury_tx, job->arg, &job->err);
}

static void after_jury(struct request *req)
{
    struct bonds_call *call = req->user;
    const struct reputation_bond *b;
    const struct reputation_round *r;
    json_t *pool, *seats, *excluded, *filing = json_null(), *body, *drawn;
    const char *filing_type;

    if (request_job_failed(req))
        return;
    b = &call->row->engine;
    r = &b->rounds[call->round];
    pool = json_array();
    for (size_t i = 0; pool != NULL && i < call->pool_count && i < LODE_BOND_POOL_RESPONSE_MAX;
         i++)
        json_array_append_new(pool, json_pack("{s:I, s:I, s:I}", "account",
                                              (json_int_t)call->pool[i].account, "stake",
                                              (json_int_t)call->pool[i].stake, "factor_bps",
                                              (json_int_t)call->pool[i].factor_bps));
    seats = json_array();
    for (size_t i = 0; seats != NULL && call->pool_drawn && i < r->juror_count; i++)
        json_array_append_new(seats, json_pack("{s:I, s:I}", "account",
                                               (json_int_t)r->jurors[i].account, "seats",
                                               (json_int_t)r->jurors[i].seats));
    excluded = json_pack("[I, I]", (json_int_t)b->publisher, (json_int_t)b->challenger);
    filing_type = call->round == 0 ? "challenge.filed" : "appeal.filed";
    drawn = json_array();
    for (size_t i = 0; i < call->entry_count; i++) {
        json_t *entry;
        if (drawn == NULL || strcmp(call->entries[i].type, "juror.drawn") != 0 ||
            call->entries[i].index < 0)
            continue;
        entry = json_loads(call->entries[i].entry, 0, NULL);
        if (json_integer_value(json_object_get(entry, "round")) == call->round)
            json_array_append_new(drawn, json_integer((json_int_t)call->entries[i].index));
        json_decref(entry);
    }
    /* the round's latest filing entry: its challenge.filed or appeal.filed, or the last
     * pool.renewed of that round (the pool served is the one that entry hashes) */
    for (size_t i = 0; i < call->entry_count; i++) {
        json_t *entry;
        if (strcmp(call->entries[i].type, filing_type) != 0 &&
            strcmp(call->entries[i].type, "pool.renewed") != 0)
            continue;
        entry = json_loads(call->entries[i].entry, 0, NULL);
        if (strcmp(call->entries[i].type, "pool.renewed") == 0 &&
            json_integer_value(json_object_get(entry, "round")) != call->round) {
            json_decref(entry);
            continue;
        }
        json_decref(filing);
        filing = json_pack("{s:o, s:o}", "index",
                           call->entries[i].index >= 0
                               ? json_integer((json_int_t)call->entries[i].index)
                               : json_null(),
                           "entry", entry != NULL ? entry : json_null());
    }
    body = json_pack("{s:I, s:i, s:o, s:I, s:I, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:o}", "bond",
                     (json_int_t)b->id, "round", call->round, "drawn", json_boolean(call->pool_drawn),
                     "seats", (json_int_t)r->seats, "seat_deposit", (json_int_t)r->seat_deposit,
                     "filing", filing, "checkpoint",
                     call->pool_drawn ? json_pack("{s:I, s:o}", "size",
                                                  (json_int_t)r->checkpoint_size, "root",
                                                  json_hex(r->checkpoint_root, 32))
                                      : json_null(),
                     "seed", call->pool_drawn ? json_hex(r->seed, 32) : json_null(),
                     "pool_members", (json_int_t)call->pool_count, "pool", pool, "pool_sha256",
                     json_hex(call->pool_hash, 32), "excluded", excluded, "config",
                     reputation_config_json(&call->row->config));
    if (body != NULL) {
        json_object_set_new(body, "jurors", seats);
        json_object_set_new(body, "drawn_entries", drawn != NULL ? drawn : json_array());
    } else {
        json_decref(seats);
        json_decref(drawn);
    }
    reply_json(req, 200, body);
}

/* GET /v1/bonds/{id}/jury?round=0|1   (public) everything needed to recompute the draw: the
 * pool snapshot here, the rest in the public ledger at the indices given | 404 */
void handle_bonds_jury(struct request *req)
{
    struct bonds_call *call = call_new(req);
    const char *round = NULL;
    struct lode_error err;

    if (call == NULL)
        return;
    if (request_param_id(req, 0, &call->bond_id, &err) != LODE_OK ||
        !request_query(req, "round", &round, &err))
        goto problem;
    if (round != NULL && strcmp(round, "0") != 0 && strcmp(round, "1") != 0) {
        lode_error_set(&err, LODE_EINVAL, "round must be 0 or 1");
        lode_error_pointer(&err, "round");
        goto problem;
    }
    call->round = round != NULL && round[0] == '1' ? 1 : 0;
    request_run_db(req, run_jury, after_jury);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- reputation ---- */

static enum lode_code run_reputation(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    struct account account;
    enum lode_code rc = db_now_ms(conn, &call->now_ms, &job->err);
    if (rc == LODE_OK)
        rc = account_get(conn, call->account_id, &account, &job->err);
    if (rc == LODE_OK)
        rc = bond_config_get(conn, &call->cfg, NULL, &job->err);
    if (rc == LODE_OK)
        rc = bond_reputation_records(conn, call->account_id, &call->cfg, call->now_ms,
                                     call->records, &job->err);
    return rc;
}

static json_t *score_json(const struct reputation_config *cfg, const struct reputation_record *rec,
                          int64_t now_ms)
{
    struct reputation_score s;
    struct lode_error err;
    json_t *counts;

    if (reputation_score_compute(cfg, rec, now_ms, &s, &err) != LODE_OK)
        return json_null();
    counts = json_object();
    for (int o = 0; counts != NULL && o < REPUTATION_OBS_COUNT; o++)
        if (reputation_observation_role((enum reputation_observation)o) == rec->role)
            json_object_set_new(counts, reputation_observation_name((enum reputation_observation)o),
                                json_integer((json_int_t)s.counts[o]));
    return json_pack("{s:f, s:[f, f], s:b, s:{s:f, s:f, s:f, s:f, s:o}}", "mean", s.mean,
                     "interval", s.lower, s.upper, "established", s.established, "evidence",
                     "alpha", s.alpha, "beta", s.beta, "positive", s.positive, "negative",
                     s.negative, "counts", counts != NULL ? counts : json_object());
}

static void after_reputation(struct request *req)
{
    struct bonds_call *call = req->user;
    json_t *roles;

    if (request_job_failed(req))
        return;
    roles = json_object();
    for (int r = 0; roles != NULL && r < REPUTATION_ROLE_COUNT; r++)
        json_object_set_new(roles, reputation_role_name((enum reputation_role)r),
                            score_json(&call->cfg, &call->records[r], call->now_ms));
    reply_json(req, 200,
               json_pack("{s:I, s:I, s:s, s:f, s:o}", "account", (json_int_t)call->account_id,
                         "at_ms", (json_int_t)call->now_ms, "model", "beta",
                         "half_life_days", (double)call->cfg.half_life_ms / 86400000.0, "roles",
                         roles));
}

/* GET /v1/accounts/{id}/reputation   200 scores with evidence per role | 404 */
void handle_account_reputation(struct request *req)
{
    struct bonds_call *call = call_new(req);
    struct lode_error err;

    if (call == NULL)
        return;
    if (request_param_id(req, 0, &call->account_id, &err) != LODE_OK) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_reputation, after_reputation);
}

/* ---- configuration ---- */

static enum lode_code run_config_get(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    return bond_config_get(conn, &call->cfg, &call->cfg_version, &job->err);
}

static enum lode_code run_config_put(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct bonds_call *call = req->user;
    return bond_config_put(conn, &call->cfg, req->principal.account_id, &call->cfg_version,
                           &job->err);
}

static void after_config(struct request *req)
{
    struct bonds_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_json(req, 200, json_pack("{s:I, s:o}", "version", (json_int_t)call->cfg_version,
                                   "params", reputation_config_json(&call->cfg)));
}

/* GET /v1/reputation/config   200 {version, params} */
void handle_reputation_config_get(struct request *req)
{
    struct bonds_call *call = call_new(req);
    if (call == NULL)
        return;
    request_run_db(req, run_config_get, after_config);
}

/* PUT /v1/reputation/config   {parameters; absent = default}   (operators) 200 | 400 */
void handle_reputation_config_put(struct request *req)
{
    struct bonds_call *call = call_new(req);
    struct lode_error err;

    if (call == NULL)
        return;
    if (reputation_config_parse(req->body != NULL ? req->body : "", req->body_len, &call->cfg,
                                &err) != LODE_OK)
        goto problem;
    request_run_db(req, run_config_put, after_config);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- the scheduler ---- */

#define SCHEDULER_BATCH 32       /* bonds per bond_tick call */
#define SCHEDULER_BUDGET_MS 500   /* a tick job keeps going while bonds are due, this long at most */
#define SCHEDULER_DRAW_RETRY_MS 10000

struct bond_scheduler {
    struct server *server;
    struct event *timer;
    struct db_job job;
    atomic_bool busy; /* a tick is queued or running */
    int tick_ms;
};

static struct bond_scheduler scheduler;

static enum lode_code run_tick(struct db_conn *conn, struct db_job *job)
{
    uint64_t start = monotonic_ns();
    int stepped = 0, total = 0;
    enum lode_code rc;

    do {
        int64_t now_ms;
        rc = db_now_ms(conn, &now_ms, &job->err);
        if (rc != LODE_OK)
            break;
        rc = bond_tick(conn, now_ms, SCHEDULER_BATCH, SCHEDULER_DRAW_RETRY_MS, &stepped,
                       &job->err);
        total += stepped;
    } while (rc == LODE_OK && stepped == SCHEDULER_BATCH &&
             monotonic_ns() - start < (uint64_t)SCHEDULER_BUDGET_MS * 1000000u);
    if (total > 0) {
        char n[24];
        snprintf(n, sizeof n, "%d", total);
        log_emit(LOG_INFO, "bonds_advanced", "bonds", n, LOG_END);
    }
    return rc;
}

static void tick_done(struct db_job *job)
{
    struct bond_scheduler *s = job->arg;
    if (job->result != LODE_OK)
        log_emit(LOG_WARN, "bond_tick_failed", "message", job->err.message, LOG_END);
    atomic_store(&s->busy, false);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct bond_scheduler *s = arg;
    struct timeval tv = {s->tick_ms / 1000, (s->tick_ms % 1000) * 1000};

    (void)fd;
    (void)what;
    if (!atomic_load(&s->server->shutting_down) && !atomic_exchange(&s->busy, true)) {
        memset(&s->job, 0, sizeof s->job);
        s->job.run = run_tick;
        s->job.done = tick_done;
        s->job.arg = s;
        if (db_pool_submit(s->server->pool, &s->job) != LODE_OK)
            atomic_store(&s->busy, false); /* queue full: next tick */
    }
    evtimer_add(s->timer, &tv);
}

void bonds_scheduler_start(struct server *server, int tick_ms)
{
    struct timeval tv;
    if (tick_ms <= 0)
        return;
    scheduler.server = server;
    scheduler.tick_ms = tick_ms;
    atomic_store(&scheduler.busy, false);
    scheduler.timer = evtimer_new(server->loops[0].base, on_tick, &scheduler);
    if (scheduler.timer == NULL)
        return;
    tv.tv_sec = tick_ms / 1000;
    tv.tv_usec = (tick_ms % 1000) * 1000;
    evtimer_add(scheduler.timer, &tv);
}

void bonds_scheduler_stop(void)
{
    if (scheduler.timer != NULL) {
        event_free(scheduler.timer);
        scheduler.timer = NULL;
    }
}
