/*
 * api/ledger.c — the provenance ledger over HTTP.
 *
 * C2SP tlog-tiles paths under /ledger/ (checkpoint, hash tiles, entry bundles) so that existing
 * log clients and witnesses can read the log; JSON endpoints under /v1/ledger for proofs,
 * entries and lookups; and POST /v1/attestations, which appends a `hash.attested` entry.
 *
 * Appends wait for integration: after the entry is queued (durable), the request joins its
 * loop's waiter list. Whenever the sequencer reports a new tree size (ledger_wake), or at the
 * latest every WAITER_POLL_MS, each waiter checks its queue row; once integrated it answers
 * with a receipt (index, leaf hash, the checkpoint that first covered it and the inclusion
 * proof against that checkpoint). The route's deadline bounds the wait.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/encoding.h"
#include "core/json.h"
#include "ledger/entry.h"
#include "storage/idempotency_store.h"
#include "storage/ledger_store.h"

#define WAITER_POLL_MS 500
#define HEX_HASH_BYTES (MERKLE_HASH_BYTES * 2)

/* ---- shared renderers ---- */

json_t *ledger_proof_json(const uint8_t (*proof)[MERKLE_HASH_BYTES], size_t count)
{
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++) {
        char b64[BASE64_ENCODED_BYTES(MERKLE_HASH_BYTES)];
        base64_encode(proof[i], MERKLE_HASH_BYTES, b64);
        json_array_append_new(a, json_string(b64));
    }
    return a;
}

json_t *ledger_receipt_json(const struct ledger_receipt *r, json_t *checkpoint)
{
    return json_pack("{s:I, s:o, s:o, s:o}", "index", (json_int_t)r->index, "leaf_hash",
                     json_hex(r->leaf_hash, MERKLE_HASH_BYTES), "checkpoint", checkpoint,
                     "inclusion_proof",
                     ledger_proof_json((const uint8_t(*)[MERKLE_HASH_BYTES])r->proof,
                                       r->proof_count));
}

void recorded_reply_reset(struct recorded_reply *r)
{
    json_decref(r->body);
    *r = (struct recorded_reply){NULL, false, 0};
}

enum lode_code recorded_reply_replay(struct recorded_reply *r,
                                     const struct idempotency_response *replay,
                                     struct lode_error *err)
{
    json_int_t queue_id = 0;

    r->body = json_loadb((const char *)replay->body, replay->body_bytes, 0, NULL);
    r->replayed = true;
    if (r->body == NULL || json_unpack(r->body, "{s?I}", "ledger_queue_id", &queue_id) != 0)
        return lode_error_set(err, LODE_EINTERNAL, "could not read the stored response");
    r->queue_id = queue_id;
    return LODE_OK;
}

void recorded_reply_keep(struct request *req, struct recorded_reply *r, enum lode_code rc)
{
    if (r->body == NULL)
        return;
    if (rc != LODE_OK) {
        json_decref(r->body);
        r->body = NULL;
        return;
    }
    request_job_own_json(req, r->body);
}

static void recorded(struct request *req, void *state, const struct ledger_receipt *receipt,
                     size_t count, json_t *checkpoint)
{
    struct recorded_reply *r = state;
    json_t *body = json_deep_copy(r->body);

    (void)count;
    json_object_del(body, "ledger_queue_id");
    json_object_set_new(body, "ledger", ledger_receipt_json(receipt, checkpoint));
    if (r->replayed)
        reply_header(req, "idempotent-replayed", "true");
    reply_json(req, 201, body);
}

void recorded_reply_send(struct request *req, struct recorded_reply *r)
{
    if (r->queue_id > 0) {
        ledger_await_receipts(req, &r->queue_id, 1, r, recorded);
        return;
    }
    /* a response stored before the operation had a ledger entry */
    if (r->replayed)
        reply_header(req, "idempotent-replayed", "true");
    reply_json(req, 201, json_deep_copy(r->body));
}

static json_t *checkpoint_json(const struct ledger_checkpoint *cp)
{
    char b64[BASE64_ENCODED_BYTES(MERKLE_HASH_BYTES)];
    base64_encode(cp->root, MERKLE_HASH_BYTES, b64);
    return json_pack("{s:I, s:s, s:s%}", "size", (json_int_t)cp->size, "root", b64, "note",
                     cp->note, cp->note_len);
}

/* Parses a non-negative decimal query parameter. */
static bool query_u64(struct request *req, const char *name, bool required, uint64_t *out,
                      struct lode_error *err)
{
    const char *v = NULL;
    char *end = NULL;

    if (!request_query(req, name, &v, err))
        return false;
    if (v == NULL) {
        if (!required)
            return true;
        lode_error_set(err, LODE_EINVAL, "query parameter \"%s\" is required", name);
        lode_error_pointer(err, name);
        return false;
    }
    unsigned long long n = strtoull(v, &end, 10);
    if (*v == '\0' || *v == '-' || *v == '+' || *end != '\0' || strlen(v) > 19 ||
        n > MERKLE_TREE_SIZE_MAX) {
        lode_error_set(err, LODE_EINVAL, "query parameter \"%s\" must be a whole number from 0 "
                                         "to 2^62", name);
        lode_error_pointer(err, name);
        return false;
    }
    *out = n;
    return true;
}

struct ledger_call {
    uint64_t a, b;
    struct tile_id tile;
    struct ledger_checkpoint cp;
    uint8_t hash[MERKLE_HASH_BYTES];
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t proof_count;
    uint8_t *data;
    size_t len;
    uint8_t *coded; /* an entry bundle in zstd content coding, when the client accepts it */
    size_t coded_len;
    bool wants_zstd;
    /* appends */
    char *entry;
    size_t entry_len;
    int64_t queue_id;
    bool integrated;
    uint64_t index;
    unsigned generation;   /* the loop's wake count when the last check started */
    const char *idem_key;  /* Idempotency-Key of the append, or NULL */
    uint8_t request_hash[32];
    bool replayed;
    struct request *next_waiter;
    /* several entries (ledger_await_receipts) */
    int64_t *queue_ids;
    size_t queue_count;
    size_t resolved;       /* receipts[0 .. resolved) have their index */
    struct ledger_receipt *receipts;
    void *owner_state;
    void (*owner_done)(struct request *req, void *state, const struct ledger_receipt *receipts,
                       size_t count, json_t *checkpoint);
};

static struct ledger_call *call_new(struct request *req)
{
    struct ledger_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

/* ---- /ledger/checkpoint ---- */

static enum lode_code run_checkpoint(struct db_conn *conn, struct db_job *job)
{
    struct ledger_call *call = ((struct request *)job->arg)->user;
    return ledger_checkpoint_latest(conn, &call->cp, &job->err);
}

static void after_checkpoint(struct request *req)
{
    struct ledger_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_header(req, "cache-control", "no-cache");
    reply_text(req, 200, "text/plain; charset=utf-8",
               arena_strndup(req->arena, call->cp.note, call->cp.note_len), call->cp.note_len);
}

/* GET /ledger/checkpoint — the latest signed checkpoint (C2SP signed note). */
void handle_ledger_checkpoint(struct request *req)
{
    call_new(req);
    request_run_db(req, run_checkpoint, after_checkpoint);
}

/* ---- /ledger/tile/... ---- */

/* zstd level of the `Content-Encoding: zstd` answer for entry bundles: the stored frames use
 * the log's trained dictionaries, which a client does not have, so a bundle is coded again */
#define BUNDLE_CODING_LEVEL 3

static enum lode_code run_tile(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct ledger_call *call = req->user;

    if (call->tile.entries) {
        enum lode_code rc = ledger_bundle_read(conn, &call->tile, req->job_arena, &call->data,
                                               &call->len, &job->err);
        if (rc != LODE_OK || !call->wants_zstd)
            return rc;
        /* entries are JSON and compress; on the worker, never on the loop. A bundle that
         * does not get smaller is sent as it is. */
        size_t cap = ZSTD_compressBound(call->len);
        call->coded = arena_alloc(req->job_arena, cap);
        if (call->coded == NULL)
            return lode_error_set(&job->err, LODE_ENOMEM, "could not allocate a bundle buffer");
        size_t n = ZSTD_compress(call->coded, cap, call->data, call->len, BUNDLE_CODING_LEVEL);
        if (ZSTD_isError(n) || n >= call->len)
            call->coded = NULL;
        else
            call->coded_len = n;
        return LODE_OK;
    }
    call->data = arena_alloc(req->job_arena, TILE_DATA_BYTES_MAX);
    if (call->data == NULL)
        return lode_error_set(&job->err, LODE_ENOMEM, "could not allocate a tile buffer");
    return ledger_tile_read(conn, &call->tile, call->data, &call->len, &job->err);
}

static void after_tile(struct request *req)
{
    struct ledger_call *call = req->user;
    uint8_t digest[crypto_hash_sha256_BYTES];
    char hex[HEX_ENCODED_BYTES(16)];
    const char *inm = request_header(req, "if-none-match");

    if (request_job_failed(req))
        return;
    /* tiles never change once written at a width: the ETag is their hash */
    crypto_hash_sha256(digest, call->data, call->len);
    hex_encode(digest, 16, hex);
    /* one ETag per representation: the coded bytes are not the identity bytes */
    char *etag = arena_sprintf(req->arena, "\"%s%s\"", hex, call->coded != NULL ? "-zstd" : "");
    reply_header(req, "etag", etag);
    reply_header(req, "cache-control", call->tile.width == TILE_WIDTH
                                           ? "public, max-age=31536000, immutable"
                                           : "public, max-age=60");
    if (call->tile.entries)
        reply_header(req, "vary", "accept-encoding");
    if (inm != NULL && strcmp(inm, etag) == 0) {
        reply_empty(req, 304);
        return;
    }
    if (call->coded != NULL) {
        reply_header(req, "content-encoding", "zstd");
        reply_text(req, 200, "application/octet-stream", (const char *)call->coded,
                   call->coded_len);
        return;
    }
    reply_text(req, 200, "application/octet-stream", (const char *)call->data, call->len);
}

/* GET /ledger/tile/{*tile} — hash tiles and entry bundles at their tlog-tiles paths. */
void handle_ledger_tile(struct request *req)
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;
    const char *rest = req->params[0];
    char *path = arena_sprintf(req->arena, "tile/%s", rest);
    enum lode_code rc = tile_path_parse(path, strlen(path), &call->tile);

    if (rc != LODE_OK) {
        lode_error_set(&err, LODE_ENOTFOUND, "\"%.80s\" is not a tile path of this log", rest);
        lode_error_hint(&err, "tiles are tile/<L>/<N>[.p/<W>] and tile/entries/<N>[.p/<W>] with "
                              "N in groups of three digits (x001/234)");
        reply_problem(req, &err);
        return;
    }
    call->wants_zstd =
        call->tile.entries && http_accepts_coding(request_header(req, "accept-encoding"), "zstd");
    request_run_db(req, run_tile, after_tile);
}

/* ---- /v1/ledger ---- */

static void after_ledger_info(struct request *req)
{
    struct ledger_call *call = req->user;
    json_t *body;

    if (request_job_failed(req))
        return;
    body = json_pack("{s:s, s:s, s:I, s:o, s:s, s:s}", "origin", req->server->ledger_origin,
                     "verifier_key", req->server->ledger_vkey, "size", (json_int_t)call->cp.size,
                     "checkpoint", checkpoint_json(&call->cp), "checkpoint_url",
                     "/ledger/checkpoint", "tiles_url", "/ledger/tile/");
    reply_header(req, "cache-control", "no-cache");
    reply_json(req, 200, body);
}

/* GET /v1/ledger — origin, verifier key and the latest checkpoint. */
void handle_ledger_info(struct request *req)
{
    call_new(req);
    request_run_db(req, run_checkpoint, after_ledger_info);
}

/* ---- proofs ---- */

static enum lode_code run_inclusion(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct ledger_call *call = req->user;
    uint8_t *entry;
    size_t len;
    enum lode_code rc;

    if (call->b == 0) { /* tree_size defaults to the latest checkpoint */
        rc = ledger_checkpoint_latest(conn, &call->cp, &job->err);
        if (rc != LODE_OK)
            return rc;
        call->b = call->cp.size;
    }
    if (call->a >= call->b)
        return lode_error_set(&job->err, LODE_EINVAL,
                              "index %llu is not inside a tree of %llu entries",
                              (unsigned long long)call->a, (unsigned long long)call->b);
    rc = ledger_entry_read(conn, call->a, req->job_arena, &entry, &len, call->hash, &job->err);
    if (rc != LODE_OK)
        return rc;
    return ledger_prove_inclusion(conn, call->a, call->b, call->proof, &call->proof_count,
                                  &job->err);
}

static void after_inclusion(struct request *req)
{
    struct ledger_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_json(req, 200,
               json_pack("{s:I, s:I, s:o, s:o}", "index", (json_int_t)call->a, "tree_size",
                         (json_int_t)call->b, "leaf_hash", json_hex(call->hash, MERKLE_HASH_BYTES), "proof",
                         ledger_proof_json((const uint8_t(*)[MERKLE_HASH_BYTES])call->proof,
                                    call->proof_count)));
}

/* GET /v1/ledger/proofs/inclusion?index=I[&tree_size=N] */
void handle_ledger_inclusion(struct request *req)
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;

    if (!query_u64(req, "index", true, &call->a, &err) ||
        !query_u64(req, "tree_size", false, &call->b, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_inclusion, after_inclusion);
}

static enum lode_code run_consistency(struct db_conn *conn, struct db_job *job)
{
    struct ledger_call *call = ((struct request *)job->arg)->user;
    return ledger_prove_consistency(conn, call->a, call->b, call->proof, &call->proof_count,
                                    &job->err);
}

static void after_consistency(struct request *req)
{
    struct ledger_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_json(req, 200,
               json_pack("{s:I, s:I, s:o}", "from", (json_int_t)call->a, "to",
                         (json_int_t)call->b, "proof",
                         ledger_proof_json((const uint8_t(*)[MERKLE_HASH_BYTES])call->proof,
                                    call->proof_count)));
}

/* GET /v1/ledger/proofs/consistency?from=A&to=B */
void handle_ledger_consistency(struct request *req)
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;

    if (!query_u64(req, "from", true, &call->a, &err) ||
        !query_u64(req, "to", true, &call->b, &err)) {
        reply_problem(req, &err);
        return;
    }
    if (call->a > call->b) {
        lode_error_set(&err, LODE_EINVAL, "\"from\" (%llu) must not be larger than \"to\" (%llu)",
                       (unsigned long long)call->a, (unsigned long long)call->b);
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_consistency, after_consistency);
}

/* ---- entries ---- */

static bool param_u64(struct request *req, uint64_t *out, struct lode_error *err)
{
    const char *s = req->params[0];
    char *end = NULL;
    unsigned long long n = strtoull(s, &end, 10);

    if (*s == '\0' || *s == '-' || *s == '+' || *end != '\0' || strlen(s) > 19 ||
        n >= MERKLE_TREE_SIZE_MAX) {
        lode_error_set(err, LODE_ENOTFOUND, "no ledger entry \"%.40s\": indices are whole numbers",
                       s);
        return false;
    }
    *out = n;
    return true;
}

static enum lode_code run_entry(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct ledger_call *call = req->user;
    return ledger_entry_read(conn, call->a, req->job_arena, &call->data, &call->len, call->hash,
                             &job->err);
}

static void after_entry(struct request *req)
{
    struct ledger_call *call = req->user;
    json_t *entry;

    if (request_job_failed(req))
        return;
    entry = json_loadb((const char *)call->data, call->len, 0, NULL);
    char *b64 = arena_alloc(req->arena, BASE64_ENCODED_BYTES(call->len));
    base64_encode(call->data, call->len, b64);
    reply_header(req, "cache-control", "public, max-age=31536000, immutable");
    reply_json(req, 200,
               json_pack("{s:I, s:o, s:o, s:s}", "index", (json_int_t)call->a, "leaf_hash",
                         json_hex(call->hash, MERKLE_HASH_BYTES), "entry", entry != NULL ? entry : json_null(),
                         "entry_base64", b64));
}

/* GET /v1/ledger/entries/{index} — one entry, its exact bytes and leaf hash. */
void handle_ledger_entry(struct request *req)
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;

    if (!param_u64(req, &call->a, &err)) {
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_entry, after_entry);
}

static enum lode_code run_leaf(struct db_conn *conn, struct db_job *job)
{
    struct ledger_call *call = ((struct request *)job->arg)->user;
    return ledger_index_by_leaf(conn, call->hash, &call->a, &job->err);
}

static void after_leaf(struct request *req)
{
    struct ledger_call *call = req->user;
    if (request_job_failed(req))
        return;
    reply_json(req, 200, json_pack("{s:I, s:o}", "index", (json_int_t)call->a, "leaf_hash",
                                   json_hex(call->hash, MERKLE_HASH_BYTES)));
}

/* GET /v1/ledger/leaves/{leaf_hash} — the index of the entry with this leaf hash (hex). */
void handle_ledger_leaf(struct request *req)
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;
    size_t n = 0;
    const char *hex = req->params[0];

    if (strlen(hex) != HEX_HASH_BYTES || !hex_decode(hex, HEX_HASH_BYTES, call->hash,
                                                     sizeof call->hash, &n)) {
        lode_error_set(&err, LODE_ENOTFOUND,
                       "no leaf \"%.80s\": a leaf hash is 64 hexadecimal characters", hex);
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_leaf, after_leaf);
}

/* ---- appends and their receipts ---- */

static void wait_for_integration(struct request *req);

/* Several entries: indices in queue order, then one checkpoint and a proof for each. */
static enum lode_code check_receipts(struct db_conn *conn, struct request *req,
                                     struct ledger_call *call, struct lode_error *err)
{
    enum lode_code rc;
    uint64_t last = 0;

    call->integrated = false;
    while (call->resolved < call->queue_count) {
        struct ledger_receipt *r = &call->receipts[call->resolved];
        bool done = false;
        rc = ledger_queue_lookup(conn, call->queue_ids[call->resolved], &done, &r->index,
                                 r->leaf_hash, err);
        if (rc != LODE_OK || !done)
            return rc;
        call->resolved++;
    }
    for (size_t i = 0; i < call->queue_count; i++)
        if (call->receipts[i].index > last)
            last = call->receipts[i].index;
    rc = ledger_checkpoint_at_least(conn, last + 1, &call->cp, err);
    if (rc != LODE_OK)
        return rc;
    for (size_t i = 0; i < call->queue_count; i++) {
        struct ledger_receipt *r = &call->receipts[i];
        r->proof = arena_alloc(req->job_arena, MERKLE_PROOF_HASHES_MAX * MERKLE_HASH_BYTES);
        if (r->proof == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not hold the inclusion proofs");
        rc = ledger_prove_inclusion(conn, r->index, call->cp.size, r->proof, &r->proof_count,
                                    err);
        if (rc != LODE_OK)
            return rc;
    }
    call->integrated = true;
    return LODE_OK;
}

static enum lode_code run_receipt_check(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct ledger_call *call = req->user;
    enum lode_code rc;

    if (call->queue_ids != NULL)
        return check_receipts(conn, req, call, &job->err);

    rc = ledger_queue_lookup(conn, call->queue_id, &call->integrated, &call->index, call->hash,
                             &job->err);
    if (rc != LODE_OK || !call->integrated)
        return rc;
    rc = ledger_checkpoint_at_least(conn, call->index + 1, &call->cp, &job->err);
    if (rc != LODE_OK)
        return rc;
    return ledger_prove_inclusion(conn, call->index, call->cp.size, call->proof,
                                  &call->proof_count, &job->err);
}

static void after_receipt_check(struct request *req)
{
    struct ledger_call *call = req->user;
    json_t *entry, *body;

    if (request_job_failed(req))
        return;
    if (!call->integrated) {
        wait_for_integration(req);
        return;
    }
    if (call->queue_ids != NULL) {
        call->owner_done(req, call->owner_state, call->receipts, call->queue_count,
                         checkpoint_json(&call->cp));
        return;
    }
    entry = json_loadb(call->entry, call->entry_len, 0, NULL);
    body = json_pack("{s:I, s:o, s:o, s:o, s:o}", "index", (json_int_t)call->index, "leaf_hash",
                     json_hex(call->hash, MERKLE_HASH_BYTES), "entry", entry != NULL ? entry : json_null(),
                     "checkpoint", checkpoint_json(&call->cp), "inclusion_proof",
                     ledger_proof_json((const uint8_t(*)[MERKLE_HASH_BYTES])call->proof,
                                call->proof_count));
    reply_header(req, "location", arena_sprintf(req->arena, "/v1/ledger/entries/%llu",
                                                (unsigned long long)call->index));
    if (call->replayed)
        reply_header(req, "idempotent-replayed", "true");
    reply_json(req, 201, body);
}

static void check_receipt(struct request *req)
{
    struct ledger_call *call = req->user;
    call->generation = req->loop->ledger_generation;
    request_run_db(req, run_receipt_check, after_receipt_check);
}

/* Not integrated yet: check again at once if the log grew meanwhile, else join the waiters. */
static void wait_for_integration(struct request *req)
{
    struct ledger_call *call = req->user;
    struct loop *loop = req->loop;

    if (call->generation != loop->ledger_generation) {
        check_receipt(req);
        return;
    }
    req->ledger_waiting = true;
    call->next_waiter = loop->ledger_waiters;
    loop->ledger_waiters = req;
    if (!evtimer_pending(loop->ledger_poll, NULL)) {
        struct timeval tv = {0, WAITER_POLL_MS * 1000};
        evtimer_add(loop->ledger_poll, &tv);
    }
}

/* Wakes every waiter of this loop (the sequencer reported a new size, or the poll fired). */
void ledger_wake_waiters(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    struct request *list = loop->ledger_waiters;

    loop->ledger_generation++;
    loop->ledger_waiters = NULL;
    while (list != NULL) {
        struct request *req = list;
        list = ((struct ledger_call *)req->user)->next_waiter;
        req->ledger_waiting = false;
        if (!req->responded)
            check_receipt(req);
    }
}

/* Removes an abandoned request from its loop's waiters. */
void ledger_forget_waiter(struct request *req)
{
    for (struct request **p = &req->loop->ledger_waiters; *p != NULL;
         p = &((struct ledger_call *)(*p)->user)->next_waiter)
        if (*p == req) {
            *p = ((struct ledger_call *)req->user)->next_waiter;
            break;
        }
    req->ledger_waiting = false;
}

/* With an Idempotency-Key: claim the key, queue the entry and store {queue_id, entry} as the
 * response to replay, all in one transaction; a replay waits for the first entry's receipt. */
static enum lode_code append_idempotent(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct ledger_call *call = req->user;
    struct idempotency_response replay;
    enum lode_code rc;
    json_t *stored;

    call->replayed = false;
    rc = request_idempotency_claim(conn, req, call->idem_key, call->request_hash, &replay, err);
    if (rc != LODE_OK)
        return rc;
    if (replay.status != 0) {
        json_int_t queue_id = 0;
        const char *entry = NULL;
        size_t entry_len = 0;
        stored = json_loadb((const char *)replay.body, replay.body_bytes, 0, NULL);
        if (stored == NULL || json_unpack(stored, "{s:I, s:s%}", "queue_id", &queue_id, "entry",
                                          &entry, &entry_len) != 0) {
            json_decref(stored);
            return lode_error_set(err, LODE_EINTERNAL, "could not read the stored response");
        }
        call->queue_id = queue_id;
        call->entry = arena_strndup(req->job_arena, entry, entry_len);
        call->entry_len = entry_len;
        call->replayed = true;
        json_decref(stored);
        return call->entry != NULL ? LODE_OK : lode_error_set(err, LODE_ENOMEM, "out of memory");
    }
    rc = ledger_enqueue(conn, (const uint8_t *)call->entry, call->entry_len, &call->queue_id, err);
    if (rc != LODE_OK)
        return rc;
    stored = json_pack("{s:I, s:s%}", "queue_id", (json_int_t)call->queue_id, "entry", call->entry,
                       call->entry_len);
    rc = request_idempotency_finish_json(conn, req->principal.account_id, call->idem_key, stored,
                                         err);
    json_decref(stored);
    return rc;
}

static enum lode_code run_append(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct ledger_call *call = req->user;

    if (call->idem_key != NULL)
        return db_tx(conn, DB_READ_COMMITTED, append_idempotent, req, &job->err);
    return ledger_enqueue(conn, (const uint8_t *)call->entry, call->entry_len, &call->queue_id,
                          &job->err);
}

static void after_append(struct request *req)
{
    if (request_job_failed(req))
        return;
    check_receipt(req);
}

/* Queues a built entry and answers with its receipt once integrated. */
void ledger_append_and_reply(struct request *req, json_t *entry)
{
    struct ledger_call *call = req->user != NULL ? req->user : call_new(req);
    struct lode_error err;
    char *bytes = NULL;

    if (ledger_entry_encode(entry, &bytes, &call->entry_len, &err) != LODE_OK) {
        json_decref(entry);
        reply_problem(req, &err);
        return;
    }
    json_decref(entry);
    call->entry = arena_strndup(req->arena, bytes, call->entry_len);
    free(bytes);
    if (!request_idempotency_key(req, false, &call->idem_key, &err)) {
        reply_problem(req, &err);
        return;
    }
    if (call->idem_key != NULL) {
        idempotency_request_hash(req->method, req->path, (const uint8_t *)req->body,
                                 req->body_len, call->request_hash);
    }
    request_run_db(req, run_append, after_append);
}

void ledger_await_receipts(struct request *req, const int64_t *queue_ids, size_t count,
                           void *state,
                           void (*done)(struct request *req, void *state,
                                        const struct ledger_receipt *receipts, size_t count,
                                        json_t *checkpoint))
{
    struct ledger_call *call = call_new(req);
    struct lode_error err;

    call->queue_ids = arena_calloc(req->arena, count > 0 ? count : 1, sizeof *call->queue_ids);
    call->receipts = arena_calloc(req->arena, count > 0 ? count : 1, sizeof *call->receipts);
    if (call->queue_ids == NULL || call->receipts == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "could not hold the receipts");
        reply_problem(req, &err);
        return;
    }
    if (count > 0)
        memcpy(call->queue_ids, queue_ids, count * sizeof *queue_ids);
    call->queue_count = count;
    call->owner_state = state;
    call->owner_done = done;
    check_receipt(req);
}

struct attest_call {
    uint8_t sha256[32];
    uint8_t pk[32];
    uint8_t sig[64];
    bool signed_by_key;
    struct account_key key;
};

static enum lode_code run_key_check(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct attest_call *a = (struct attest_call *)((struct ledger_call *)req->user)->data;
    enum lode_code rc = key_find(conn, a->pk, &a->key, &job->err);
    if (rc == LODE_ENOTFOUND)
        return lode_error_set(&job->err, LODE_EUNPROCESSABLE, "the key is not registered to any "
                                                              "account");
    if (rc == LODE_OK && a->key.account_id != req->principal.account_id)
        return lode_error_set(&job->err, LODE_EFORBIDDEN,
                              "the key is registered to another account");
    return rc;
}

static void append_attestation(struct request *req)
{
    struct ledger_call *call = req->user;
    struct attest_call *a = (struct attest_call *)call->data;
    char hex[HEX_ENCODED_BYTES(32)];
    json_t *entry;

    hex_encode(a->sha256, 32, hex);
    entry = json_pack("{s:s, s:I, s:s, s:I}", "type", "hash.attested", "account",
                      (json_int_t)req->principal.account_id, "sha256", hex, "time_ms",
                      (json_int_t)time(NULL) * 1000);
    if (a->signed_by_key) {
        char pk[BASE64_ENCODED_BYTES(32)], sig[BASE64_ENCODED_BYTES(64)];
        base64_encode(a->pk, 32, pk);
        base64_encode(a->sig, 64, sig);
        json_object_set_new(entry, "key", json_string(pk));
        json_object_set_new(entry, "signature", json_string(sig));
    }
    call->data = NULL;
    ledger_append_and_reply(req, entry);
}

static void after_key_check(struct request *req)
{
    if (request_job_failed(req))
        return;
    append_attestation(req);
}

/*
 * POST /v1/attestations   body: {"sha256": hex, "key"?: base64, "signature"?: base64}
 * Records in the ledger that the caller attests this SHA-256 now, signed with one of the
 * caller's registered keys when key and signature are given (Ed25519 over the 32 hash bytes).
 * 201 receipt | 400 | 401 | 403 key of another account | 413 | 415 | 422 bad signature | 503
 */
void handle_attestations_create(struct request *req)
{
    static const char *const fields[] = {"sha256", "key", "signature", NULL};
    struct ledger_call *call = call_new(req);
    struct attest_call *a = arena_calloc(req->arena, 1, sizeof *a);
    struct lode_error err;
    const char *hex = NULL, *pk = NULL, *sig = NULL;
    size_t n = 0;
    json_t *body = request_json_body(req, &err);

    if (body == NULL)
        goto problem;
    request_own_json(req, body);
    if (json_object_check_fields(body, fields, &err) != LODE_OK ||
        json_get_string(body, "sha256", true, 64, &hex, &err) != LODE_OK ||
        json_get_string(body, "key", false, 64, &pk, &err) != LODE_OK ||
        json_get_string(body, "signature", false, 100, &sig, &err) != LODE_OK)
        goto problem;
    if (strlen(hex) != 64 || !hex_decode(hex, 64, a->sha256, 32, &n)) {
        lode_error_set(&err, LODE_EINVAL, "field \"sha256\" must be 64 hexadecimal characters");
        lode_error_pointer(&err, "/sha256");
        goto problem;
    }
    if ((pk == NULL) != (sig == NULL)) {
        lode_error_set(&err, LODE_EINVAL, "fields \"key\" and \"signature\" go together");
        lode_error_pointer(&err, pk == NULL ? "/key" : "/signature");
        goto problem;
    }
    call->data = (uint8_t *)a;
    if (pk == NULL) {
        append_attestation(req);
        return;
    }
    if (!base64_decode(pk, strlen(pk), a->pk, 32, &n) || n != 32) {
        lode_error_set(&err, LODE_EINVAL, "field \"key\" must be the base64 of a 32-byte Ed25519 "
                                          "public key");
        lode_error_pointer(&err, "/key");
        goto problem;
    }
    if (!base64_decode(sig, strlen(sig), a->sig, 64, &n) || n != 64) {
        lode_error_set(&err, LODE_EINVAL, "field \"signature\" must be the base64 of a 64-byte "
                                          "Ed25519 signature");
        lode_error_pointer(&err, "/signature");
        goto problem;
    }
    if (crypto_sign_verify_detached(a->sig, a->sha256, 32, a->pk) != 0) {
        lode_error_set(&err, LODE_EUNPROCESSABLE,
                       "the signature does not verify for this key over the 32 hash bytes");
        lode_error_pointer(&err, "/signature");
        goto problem;
    }
    a->signed_by_key = true;
    request_run_db(req, run_key_check, after_key_check);
    return;
problem:
    reply_problem(req, &err);
}
