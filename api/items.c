/*
 * api/items.c — contributions to datasets, and item provenance and content.
 *
 * POST /v1/datasets/{id}/items takes one JSON record (application/json), a batch of records
 * (application/x-ndjson, one per line, all or nothing) or a file (application/octet-stream with
 * Lode-Filename and Lode-Media-Type). A record is {"text": string, "meta"?: object}; in a batch a
 * line may add "key" and "signature" (base64 Ed25519 public key and signature over the 32 bytes
 * of the SHA-256 of the text), a single record or file takes them from the Lode-Key and
 * Lode-Signature headers. The item's bytes are the UTF-8 text itself (a file: its bytes).
 *
 * The loop thread parses; a database worker analyses (normalisation and MinHash, the
 * synthetic-data detector's score of each text, signature checks) and runs one transaction
 * (Idempotency-Key claim, dataset policy, item_contribute(), the response to replay); back on the
 * loop the request waits for its ledger entries and answers with a receipt per item. The
 * transaction stores the response without ledger positions (item ids and ledger queue ids), so a
 * replay waits for and renders the same receipts.
 *
 * A file is streamed: items_begin_body() installs a body sink that feeds each chunk, as it
 * arrives on the loop, to an incremental SHA-256 and a zstd compressor (BLOB_ZSTD_LEVEL) writing
 * into a growing buffer in the request's arena; the raw bytes are never kept. The stored blob is
 * that compressed frame (blob_put_compressed()), and the exact-duplicate check uses that hash.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zstd.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "api/items_upload.h"
#include "core/encoding.h"
#include "core/json.h"
#include "detector/detector.h"
#include "storage/blob_store.h"
#include "storage/dataset_store.h"
#include "storage/idempotency_store.h"
#include "storage/item_store.h"
#include "storage/ledger_store.h"

#define PROVENANCE_LIST_MAX 50
#define DETECT_REASONS_MAX (1 + DETECTOR_EVIDENCE_MAX)

/* The detector's answer on one item, for its receipt. */
struct item_detect {
    const char *verdict; /* NULL: not scored */
    bool has_score;
    double score;
    const char *reasons[DETECT_REASONS_MAX]; /* the verdict's reason, then the evidence */
    size_t reason_count;
};

struct items_call {
    int64_t dataset_id;
    enum upload_kind kind;
    size_t count;
    struct record_in *records;
    const char *filename;
    const char *media_type;
    const char *idem_key;
    uint8_t request_hash[32];
    /* worker results */
    struct item_input *items;
    struct item_outcome *outcomes;
    struct item_detect *detects;
    const char *model_version; /* NULL: no detector model loaded */
    size_t failed;
    struct dataset dataset;
    struct idempotency_response replay;
    bool replayed;
    json_t *pending; /* {"dataset", "items": [...]} with queue ids; owned by the request */
    int64_t *queue_ids;
    /* provenance */
    uint8_t sha256[32];
    struct item_record *records_out;
    int record_count;
    struct item_record *dups;
    int dup_count;
    struct ledger_checkpoint cp;
    bool has_proof;
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t proof_count;
    uint8_t *content;
    size_t content_len;
    struct file_stream *file; /* a streamed file, or NULL */
};

/* A file upload on its way in (the body sink of the items route). */
struct file_stream {
    crypto_hash_sha256_state sha;
    ZSTD_CStream *zs;
    struct arena *arena;
    uint8_t *out; /* the zstd frame so far */
    size_t out_len, out_cap, out_max;
    uint8_t sha256[32]; /* once finished */
};

static struct items_call *call_new(struct request *req)
{
    struct items_call *call = arena_calloc(req->arena, 1, sizeof *call);
    req->user = call;
    return call;
}

/* Where in the upload an item came from, for messages: "line 3: " or "". */
static const char *position(const struct items_call *call, size_t i, char *buf, size_t cap)
{
    if (call->kind != UPLOAD_BATCH)
        return "";
    snprintf(buf, cap, "line %zu: ", i + 1);
    return buf;
}

/* Prefixes err's message with the item's position. */
static void error_at(const struct items_call *call, size_t i, struct lode_error *err)
{
    char pos[32], msg[LODE_ERROR_MESSAGE_MAX];

    if (call->kind != UPLOAD_BATCH)
        return;
    /* the position is short; the message is cut at the record's size if it must be */
    int n = snprintf(msg, sizeof msg, "%s", position(call, i, pos, sizeof pos));
    if (n > 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, "%.*s", (int)(sizeof msg - (size_t)n - 1),
                 err->message);
    memcpy(err->message, msg, sizeof err->message);
    snprintf(pos, sizeof pos, "/line/%zu", i + 1);
    lode_error_pointer(err, pos);
}

/* ---- the contribution (database worker) ---- */

static json_t *dedupe_json(const struct item_outcome *o)
{
    json_t *d = json_pack("{s:s}", "verdict", item_verdict_name(o->verdict));

    if (o->verdict == DEDUPE_DISTINCT) {
        json_object_set_new(d, "duplicate_of", json_null());
        return d;
    }
    json_object_set_new(d, "duplicate_of",
                        json_pack("{s:I, s:o, s:I}", "item", (json_int_t)o->duplicate_of, "sha256",
                                  json_hex(o->duplicate_sha256, 32), "dataset",
                                  (json_int_t)o->duplicate_dataset));
    json_object_set_new(d, "similarity", json_real(o->similarity));
    json_object_set_new(d, "similarity_exact", json_boolean(o->similarity_exact));
    return d;
}

/* The receipt's detector member: verdict, score, reasons and model version, or why not. */
static json_t *detect_json(const struct items_call *call, size_t i)
{
    const struct item_detect *d = &call->detects[i];
    json_t *reasons = json_array();

    if (d->verdict == NULL) {
        json_array_append_new(reasons, json_string(call->kind == UPLOAD_FILE
                                                       ? "files are not scored by the detector"
                                                       : "no detector model is loaded on this "
                                                         "server, so the text was not scored"));
        return json_pack("{s:s, s:n, s:o, s:n, s:b}", "verdict", "unscored", "score", "reasons",
                         reasons, "model_version", "flagged", false);
    }
    for (size_t k = 0; k < d->reason_count; k++)
        json_array_append_new(reasons, json_string(d->reasons[k]));
    return json_pack("{s:s, s:o, s:o, s:s, s:b}", "verdict", d->verdict, "score",
                     d->has_score ? json_real(d->score) : json_null(), "reasons", reasons,
                     "model_version", call->model_version, "flagged", call->outcomes[i].flagged);
}

/* The response without ledger positions (stored for Idempotency-Key replays). */
static json_t *pending_build(const struct items_call *call)
{
    json_t *items = json_array();

    for (size_t i = 0; i < call->count; i++) {
        const struct item_input *it = &call->items[i];
        const struct item_outcome *o = &call->outcomes[i];
        char hex[HEX_ENCODED_BYTES(32)], location[96];
        hex_encode(it->keys.bytes_sha256, 32, hex);
        snprintf(location, sizeof location, "/v1/items/%s", hex);
        json_t *r = json_pack("{s:I, s:s, s:I, s:s, s:s, s:o, s:b, s:o, s:I, s:s}", "item",
                              (json_int_t)o->item_id, "sha256", hex, "bytes", (json_int_t)it->len,
                              "media_type", it->media_type, "status", item_status_name(o->status),
                              "dedupe", dedupe_json(o), "signed", it->has_signature, "created_at",
                              json_time_ms(o->created_at_ms), "queue_id", (json_int_t)o->queue_id,
                              "location", location);
        json_object_set_new(r, "detector", detect_json(call, i));
        if (o->flagged)
            json_object_set_new(r, "flag_queue_id", json_integer((json_int_t)o->flag_queue_id));
        json_array_append_new(items, r);
    }
    return json_pack("{s:I, s:o}", "dataset", (json_int_t)call->dataset_id, "items", items);
}

/* Scores item i's text with the detector (on the database worker, before the transaction). */
static enum lode_code detect(struct request *req, struct items_call *call, size_t i,
                             struct lode_error *err)
{
    const struct record_in *r = &call->records[i];
    struct item_detect *d = &call->detects[i];
    struct item_synthetic *sy = &call->items[i].synthetic;
    struct detector_result *res = arena_alloc(req->job_arena, sizeof *res);
    enum lode_code rc;

    if (res == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold a detector result");
    rc = detector_score(req->server->detector, r->text, r->len, res, err);
    if (rc != LODE_OK)
        return rc;
    d->verdict = detector_verdict_name(res->verdict);
    d->has_score = res->has_probability;
    d->score = res->probability;
    d->reasons[d->reason_count++] = arena_strndup(req->job_arena, res->reason, strlen(res->reason));
    for (size_t k = 0; k < res->evidence_count && d->reason_count < DETECT_REASONS_MAX; k++)
        d->reasons[d->reason_count++] = arena_strndup(req->job_arena, res->evidence[k].explanation,
                                                      strlen(res->evidence[k].explanation));
    for (size_t k = 0; k < d->reason_count; k++)
        if (d->reasons[k] == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not hold a detector result");
    sy->scored = true;
    sy->verdict = d->verdict;
    sy->has_score = d->has_score;
    sy->score = d->score;
    sy->model_version = call->model_version;
    return LODE_OK;
}

/* Hashes, normalises, scores and signs off each item; checks each signature. */
static enum lode_code analyse(struct request *req, struct items_call *call, struct lode_error *err)
{
    struct dedupe_workspace ws;
    struct dedupe_params params;
    enum lode_code rc = LODE_OK;

    call->items = arena_calloc(req->job_arena, call->count, sizeof *call->items);
    call->outcomes = arena_calloc(req->job_arena, call->count, sizeof *call->outcomes);
    call->queue_ids = arena_calloc(req->job_arena, call->count, sizeof *call->queue_ids);
    call->detects = arena_calloc(req->job_arena, call->count, sizeof *call->detects);
    if (call->items == NULL || call->outcomes == NULL || call->queue_ids == NULL ||
        call->detects == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the upload");
    if (req->server->detector != NULL)
        call->model_version = detector_model_version(req->server->detector);
    item_index_params(DATASET_NEAR_THRESHOLD_MIN, &params);
    dedupe_workspace_init(&ws);
    for (size_t i = 0; i < call->count && rc == LODE_OK; i++) {
        const struct record_in *r = &call->records[i];
        struct item_input *it = &call->items[i];
        const char *norm = NULL;
        size_t norm_len = 0;

        it->bytes = (const uint8_t *)r->text;
        it->len = r->len;
        it->meta_json = r->meta_json;
        if (call->kind == UPLOAD_FILE) {
            it->media_type = call->media_type;
            it->filename = call->filename;
            if (call->file != NULL) {
                memcpy(it->keys.bytes_sha256, call->file->sha256, 32);
                it->zbytes = call->file->out;
                it->zlen = call->file->out_len;
            } else {
                dedupe_sha256(r->text, r->len, it->keys.bytes_sha256);
            }
        } else {
            it->media_type = ITEM_RECORD_MEDIA_TYPE;
            it->is_text = true;
            rc = dedupe_text_analyse(&ws, &params, r->text, r->len, &it->keys, &it->minhash, &norm,
                                     &norm_len, err);
            if (rc != LODE_OK) {
                lode_error_pointer(err, "/text");
                error_at(call, i, err);
                break;
            }
            it->norm = arena_strndup(req->job_arena, norm, norm_len);
            it->norm_len = norm_len;
            if (it->norm == NULL) {
                rc = lode_error_set(err, LODE_ENOMEM, "could not hold the normalised text");
                break;
            }
        }
        if (it->is_text && call->model_version != NULL &&
            (rc = detect(req, call, i, err)) != LODE_OK) {
            error_at(call, i, err);
            break;
        }
        if (r->has_signature) {
            if (crypto_sign_verify_detached(r->signature, it->keys.bytes_sha256, 32,
                                            r->public_key) != 0) {
                rc = lode_error_set(err, LODE_EUNPROCESSABLE,
                                    "the signature does not verify for this key over the 32 "
                                    "bytes of the item's SHA-256");
                lode_error_pointer(err,
                                   call->kind == UPLOAD_BATCH ? "/signature" : "Lode-Signature");
                error_at(call, i, err);
                break;
            }
            it->has_signature = true;
            memcpy(it->public_key, r->public_key, 32);
            memcpy(it->signature, r->signature, 64);
        }
    }
    dedupe_workspace_fini(&ws);
    return rc;
}

static enum lode_code contribute_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct request *req = arg;
    struct items_call *call = req->user;
    enum lode_code rc;

    /* db_tx may run this again: start from nothing */
    call->replayed = false;
    call->failed = SIZE_MAX;
    if (call->pending != NULL) {
        json_decref(call->pending);
        call->pending = NULL;
    }
    if (call->idem_key != NULL) {
        rc = request_idempotency_claim(conn, req, call->idem_key, call->request_hash,
                                       &call->replay, err);
        if (rc != LODE_OK)
            return rc;
        if (call->replay.status != 0) {
            call->replayed = true;
            return LODE_OK;
        }
    }
    rc = dataset_get(conn, call->dataset_id, true, &call->dataset, err);
    if (rc != LODE_OK)
        return rc;
    rc = item_contribute(conn, &call->dataset, req->principal.account_id, call->items, call->count,
                         call->outcomes, &call->failed, err);
    if (rc != LODE_OK) {
        if (call->failed >= call->count)
            call->failed = SIZE_MAX; /* the upload as a whole (maximum synthetic fraction) */
        else if (rc != LODE_ECONFLICT || call->kind == UPLOAD_BATCH)
            error_at(call, call->failed, err);
        return rc;
    }
    call->failed = SIZE_MAX;
    call->pending = pending_build(call);
    if (call->pending == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not build the receipts");
    if (call->idem_key == NULL)
        return LODE_OK;
    return request_idempotency_finish_json(conn, req->principal.account_id, call->idem_key,
                                           call->pending, err);
}

static enum lode_code run_contribute(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct items_call *call = req->user;
    enum lode_code rc;

    call->failed = SIZE_MAX;
    rc = analyse(req, call, &job->err);
    if (rc != LODE_OK)
        return rc;
    rc = db_tx(conn, DB_READ_COMMITTED, contribute_tx, req, &job->err);
    if (call->pending == NULL)
        return rc;
    if (rc != LODE_OK) {
        json_decref(call->pending);
        call->pending = NULL;
        return rc;
    }
    request_job_own_json(req, call->pending);
    return rc;
}

/* 409: the policy rejects a duplicate or a synthetic text; the problem names the matched item
 * or the detector's verdict and score. */
static void reply_duplicate(struct request *req, const struct items_call *call)
{
    const struct item_outcome *o = &call->outcomes[call->failed];
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s}", "type", "urn:lode:problem:conflict",
                          "title", "Conflict", "status", 409, "detail", req->job.err.message,
                          "instance", req->path, "request_id", req->request_id);
    char *text;

    json_object_set_new(p, "record", json_integer((json_int_t)call->failed + 1));
    if (o->synthetic_rejected)
        json_object_set_new(p, "detector", detect_json(call, call->failed));
    else
        json_object_set_new(p, "dedupe", dedupe_json(o));
    text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (text == NULL) {
        reply_problem(req, &req->job.err);
        return;
    }
    char *copy = arena_strndup(req->arena, text, strlen(text));
    size_t n = strlen(text);
    free(text);
    if (copy == NULL) {
        reply_problem(req, &req->job.err);
        return;
    }
    reply_text(req, 409, "application/problem+json", copy, n);
}

static void render_receipts(struct request *req, void *state, const struct ledger_receipt *receipts,
                            size_t count, json_t *checkpoint)
{
    struct items_call *call = state;
    json_t *items = json_object_get(call->pending, "items"), *body;
    size_t n = json_array_size(items), next = n;

    /* receipts: one per item in order, then one per flagged item's item.flagged entry */
    for (size_t i = 0; i < n && next < count; i++) {
        json_t *d = json_object_get(json_array_get(items, i), "detector");
        if (json_object_get(json_array_get(items, i), "flag_queue_id") == NULL)
            continue;
        json_object_del(json_array_get(items, i), "flag_queue_id");
        json_object_set_new(d, "ledger",
                            json_pack("{s:I, s:o}", "index", (json_int_t)receipts[next].index,
                                      "leaf_hash", json_hex(receipts[next].leaf_hash, 32)));
        next++;
    }
    for (size_t i = 0; i < count && i < n; i++) {
        json_t *r = json_array_get(items, i);
        json_t *proof = ledger_proof_json((const uint8_t(*)[32])receipts[i].proof,
                                          receipts[i].proof_count);
        json_object_del(r, "queue_id");
        json_object_set_new(r, "ledger",
                            json_pack("{s:I, s:o, s:o}", "index", (json_int_t)receipts[i].index,
                                      "leaf_hash", json_hex(receipts[i].leaf_hash, 32),
                                      "inclusion_proof", proof));
    }
    body = json_deep_copy(call->pending);
    json_object_set_new(body, "checkpoint", checkpoint);
    if (call->replayed)
        reply_header(req, "idempotent-replayed", "true");
    if (call->count == 1 || json_array_size(items) == 1)
        reply_header(req, "location",
                     json_string_value(json_object_get(json_array_get(items, 0), "location")));
    reply_json(req, 201, body);
}

static void after_contribute(struct request *req)
{
    struct items_call *call = req->user;
    struct lode_error err;
    json_t *items, *item;
    size_t i, n;

    if (req->job.result == LODE_ECONFLICT && call->failed != SIZE_MAX) {
        reply_duplicate(req, call);
        return;
    }
    if (req->job.result != LODE_OK) {
        reply_problem(req, &req->job.err);
        return;
    }
    if (call->replayed) {
        if (call->replay.status != 201) {
            reply_text(req, call->replay.status,
                       arena_strndup(req->arena, call->replay.content_type,
                                     strlen(call->replay.content_type)),
                       (const char *)call->replay.body, call->replay.body_bytes);
            return;
        }
        call->pending =
            json_loadb((const char *)call->replay.body, call->replay.body_bytes, 0, NULL);
        if (call->pending != NULL)
            request_own_json(req, call->pending);
        if (!json_is_object(call->pending)) {
            lode_error_set(&err, LODE_EINTERNAL, "could not read a stored response");
            reply_problem(req, &err);
            return;
        }
    }
    items = json_object_get(call->pending, "items");
    call->count = json_array_size(items);
    call->queue_ids =
        arena_calloc(req->arena, call->count > 0 ? 2 * call->count : 1, sizeof *call->queue_ids);
    if (call->count == 0 || call->queue_ids == NULL) {
        lode_error_set(&err, LODE_EINTERNAL, "could not read the receipts");
        reply_problem(req, &err);
        return;
    }
    n = call->count;
    json_array_foreach(items, i, item)
    {
        json_t *flag = json_object_get(item, "flag_queue_id");
        call->queue_ids[i] = json_integer_value(json_object_get(item, "queue_id"));
        if (flag != NULL)
            call->queue_ids[n++] = json_integer_value(flag);
    }
    ledger_await_receipts(req, call->queue_ids, n, call, render_receipts);
}

/* ---- streamed files ---- */

/* Whether a Content-Type names this media type (parameters allowed). */
static bool media_type_is(const char *ct, const char *type)
{
    size_t n = strlen(type);
    return ct != NULL && strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

static void free_cstream(void *zs)
{
    ZSTD_freeCStream(zs);
}

/* Makes room for more compressed bytes: doubles the buffer up to the bound of the largest
 * accepted file. Returns LODE_OK or LODE_ENOMEM (the request's memory budget). */
static enum lode_code file_grow(struct file_stream *fs, struct lode_error *err)
{
    size_t cap = fs->out_cap * 2;
    uint8_t *nb;

    if (cap > fs->out_max)
        cap = fs->out_max;
    if (cap <= fs->out_cap)
        return lode_error_set(err, LODE_EINTERNAL,
                              "could not compress the file within its bound");
    nb = arena_alloc(fs->arena, cap);
    if (nb == NULL) {
        lode_error_set(err, LODE_ENOMEM, "the file does not fit in the request's memory budget");
        err->retry_after_s = 1;
        return LODE_ENOMEM;
    }
    if (fs->out_len != 0)
        memcpy(nb, fs->out, fs->out_len);
    fs->out = nb;
    fs->out_cap = cap;
    return LODE_OK;
}

/* Runs the compressor over in (all of it) with the given directive; for ZSTD_e_end, until the
 * frame is complete. */
static enum lode_code file_compress(struct file_stream *fs, ZSTD_inBuffer *in,
                                    ZSTD_EndDirective mode, struct lode_error *err)
{
    size_t left;

    do {
        ZSTD_outBuffer o;
        if (fs->out_len == fs->out_cap && file_grow(fs, err) != LODE_OK)
            return err->code;
        o.dst = fs->out + fs->out_len;
        o.size = fs->out_cap - fs->out_len;
        o.pos = 0;
        left = ZSTD_compressStream2(fs->zs, &o, in, mode);
        if (ZSTD_isError(left))
            return lode_error_set(err, mode == ZSTD_e_end ? LODE_EINVAL : LODE_EINTERNAL,
                                  "could not compress the file: %s", ZSTD_getErrorName(left));
        fs->out_len += o.pos;
    } while (mode == ZSTD_e_end ? left != 0 : in->pos < in->size);
    return LODE_OK;
}

/* The body sink: one chunk of the file. */
static enum lode_code file_write(void *state, const char *data, size_t len,
                                 struct lode_error *err)
{
    struct file_stream *fs = state;
    ZSTD_inBuffer in = {data, len, 0};

    crypto_hash_sha256_update(&fs->sha, (const unsigned char *)data, len);
    return file_compress(fs, &in, ZSTD_e_continue, err);
}

/* Ends the frame and the hash once the whole body has arrived. Returns LODE_OK, LODE_EINVAL
 * (fewer or more bytes than the Content-Length pledged) or LODE_ENOMEM. */
static enum lode_code file_finish(struct file_stream *fs, struct lode_error *err)
{
    ZSTD_inBuffer in = {NULL, 0, 0};
    enum lode_code rc = file_compress(fs, &in, ZSTD_e_end, err);

    crypto_hash_sha256_final(&fs->sha, fs->sha256);
    return rc;
}

void items_begin_body(struct request *req)
{
    struct file_stream *fs;
    const char *cl = request_header(req, "content-length");
    unsigned long long pledged = ZSTD_CONTENTSIZE_UNKNOWN;
    size_t first;

    if (!media_type_is(request_header(req, "content-type"), "application/octet-stream"))
        return;
    if (cl != NULL) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*cl >= '0' && *cl <= '9' && *end == '\0' && n <= req->body_limit)
            pledged = n;
    }
    fs = arena_calloc(req->arena, 1, sizeof *fs);
    if (fs == NULL || (fs->zs = ZSTD_createCStream()) == NULL) {
        lode_error_set(&req->early_err, LODE_ENOMEM, "could not start to read the file");
        req->early_error = LODE_ENOMEM;
        return;
    }
    arena_defer(req->arena, free_cstream, fs->zs);
    fs->arena = req->arena;
    fs->out_max = ZSTD_compressBound(req->body_limit);
    /* a known size goes into the frame header, as blob_put() writes it, and sizes the buffer */
    first = pledged != ZSTD_CONTENTSIZE_UNKNOWN ? ZSTD_compressBound((size_t)pledged)
                                                : ZSTD_CStreamOutSize();
    if (ZSTD_isError(ZSTD_CCtx_setParameter(fs->zs, ZSTD_c_compressionLevel, BLOB_ZSTD_LEVEL)) ||
        (pledged != ZSTD_CONTENTSIZE_UNKNOWN &&
         ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(fs->zs, pledged)))) {
        lode_error_set(&req->early_err, LODE_EINTERNAL, "could not set up the compressor");
        req->early_error = LODE_EINTERNAL;
        return;
    }
    fs->out = arena_alloc(req->arena, first);
    if (fs->out == NULL) {
        lode_error_set(&req->early_err, LODE_ENOMEM,
                       "the file does not fit in the request's memory budget");
        req->early_error = LODE_ENOMEM;
        return;
    }
    fs->out_cap = first;
    crypto_hash_sha256_init(&fs->sha);
    req->sink.write = file_write;
    req->sink.state = fs;
}

/*
 * POST /v1/datasets/{id}/items   body: one JSON record, NDJSON records, or a file
 * 201 receipts | 400 | 401 | 403 key of another account | 404 no such dataset |
 * 409 the policy rejects a duplicate or a synthetic text, or the upload would pass the
 * dataset's maximum synthetic fraction | 413 | 415 | 422 bad or missing signature | 503
 */
void handle_items_create(struct request *req)
{
    struct items_call *call = call_new(req);
    const char *ct = request_header(req, "content-type");
    struct lode_error err;
    struct upload_headers headers = {
        request_header(req, "lode-key"), request_header(req, "lode-signature"),
        request_header(req, "lode-filename"), request_header(req, "lode-media-type")};
    struct item_upload up;
    bool ok;

    if (request_param_id(req, 0, &call->dataset_id, &err) != LODE_OK)
        goto problem;
    if (!request_idempotency_key(req, false, &call->idem_key, &err))
        goto problem;
    if (ct == NULL) {
        lode_error_set(&err, LODE_EMEDIATYPE,
                       "a Content-Type header is required: "
                       "application/json, application/x-ndjson or "
                       "application/octet-stream");
        goto problem;
    }
    if (media_type_is(ct, "application/json"))
        call->kind = UPLOAD_RECORD;
    else if (media_type_is(ct, "application/x-ndjson"))
        call->kind = UPLOAD_BATCH;
    else if (media_type_is(ct, "application/octet-stream"))
        call->kind = UPLOAD_FILE;
    else {
        lode_error_set(&err, LODE_EMEDIATYPE,
                       "unsupported Content-Type \"%.60s\": use "
                       "application/json, application/x-ndjson or "
                       "application/octet-stream",
                       ct);
        goto problem;
    }
    if (call->kind == UPLOAD_FILE && req->sink.write == file_write) {
        call->file = req->sink.state;
        if (file_finish(call->file, &err) != LODE_OK)
            goto problem;
        ok = items_upload_file(req->arena, req->body_len, &headers, &up, &err);
    } else {
        ok = items_upload_parse(req->arena, call->kind, req->body, req->body_len, &headers, &up,
                                &err);
    }
    request_own_json(req, up.docs);
    if (!ok)
        goto problem;
    call->count = up.count;
    call->records = up.records;
    call->filename = up.filename;
    call->media_type = up.media_type;
    /* a streamed file is identified by its hash: its bytes are gone */
    if (call->idem_key != NULL && call->file != NULL)
        idempotency_request_hash(req->method, req->path, call->file->sha256, 32,
                                 call->request_hash);
    else if (call->idem_key != NULL)
        idempotency_request_hash(req->method, req->path, (const uint8_t *)req->body, req->body_len,
                                 call->request_hash);
    request_run_db(req, run_contribute, after_contribute);
    return;
problem:
    reply_problem(req, &err);
}

/* ---- provenance ---- */

/* The detector's verdict as recorded at contribution: what the contributor sees. `ledger` is
 * the position of the item.flagged entry once sequenced (null while pending or not flagged). */
static json_t *provenance_detector_json(const struct item_record *r)
{
    if (r->synthetic_verdict[0] == '\0')
        return json_pack("{s:s, s:n, s:n, s:b, s:n}", "verdict", "unscored", "score",
                         "model_version", "flagged", false, "ledger");
    return json_pack("{s:s, s:o, s:s, s:b, s:o}", "verdict", r->synthetic_verdict, "score",
                     r->has_synthetic_score ? json_real(r->synthetic_score) : json_null(),
                     "model_version", r->detector_model, "flagged", r->synthetic_flagged,
                     "ledger",
                     r->synthetic_flagged && r->flag_integrated
                         ? json_pack("{s:I, s:o}", "index", (json_int_t)r->flag_ledger_index,
                                     "leaf_hash", json_hex(r->flag_leaf_hash, 32))
                         : json_null());
}

static json_t *record_json(const struct item_record *r)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:o, s:s, s:s}", "item", (json_int_t)r->id, "dataset",
                          (json_int_t)r->dataset_id, "contributor", (json_int_t)r->contributor_id,
                          "created_at", json_time_ms(r->created_at_ms), "status",
                          item_status_name(r->status), "media_type", r->media_type);
    json_t *d = json_pack("{s:s}", "verdict", item_verdict_name(r->verdict));

    if (r->filename[0] != '\0')
        json_object_set_new(o, "filename", json_string(r->filename));
    if (r->has_text_sha256)
        json_object_set_new(o, "text_sha256", json_hex(r->text_sha256, 32));
    if (r->meta_json != NULL) {
        json_t *meta = json_loads(r->meta_json, 0, NULL);
        json_object_set_new(o, "meta", meta != NULL ? meta : json_null());
    }
    if (r->verdict != DEDUPE_DISTINCT) {
        json_object_set_new(d, "duplicate_of",
                            r->duplicate_of != 0 ? json_integer(r->duplicate_of) : json_null());
        json_object_set_new(d, "similarity", json_real(r->similarity));
        json_object_set_new(d, "similarity_exact", json_boolean(r->similarity_exact));
    } else {
        json_object_set_new(d, "duplicate_of", json_null());
    }
    json_object_set_new(o, "dedupe", d);
    json_object_set_new(o, "signature",
                        r->is_signed ? json_pack("{s:s, s:o, s:o}", "algorithm", "ed25519", "key",
                                                 json_base64(r->public_key, 32), "signature",
                                                 json_base64(r->signature, 64))
                                     : json_null());
    json_object_set_new(o, "ledger",
                        r->integrated
                            ? json_pack("{s:I, s:o}", "index", (json_int_t)r->ledger_index,
                                        "leaf_hash", json_hex(r->leaf_hash, 32))
                            : json_null());
    json_object_set_new(o, "detector", provenance_detector_json(r));
    return o;
}

static bool parse_hash(struct request *req, struct items_call *call, struct lode_error *err)
{
    const char *hex = req->params[0];
    size_t n = 0;

    if (strlen(hex) != 64 || !hex_decode(hex, 64, call->sha256, 32, &n) || n != 32) {
        lode_error_set(err, LODE_ENOTFOUND,
                       "no item \"%.80s\": items are addressed by the 64 hexadecimal characters "
                       "of their SHA-256",
                       hex);
        return false;
    }
    return true;
}

static enum lode_code run_provenance(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct items_call *call = req->user;
    const struct item_record *first;
    enum lode_code rc;

    rc = item_list_by_hash(conn, req->job_arena, call->sha256, PROVENANCE_LIST_MAX,
                           call->records_out, &call->record_count, &job->err);
    if (rc != LODE_OK)
        return rc;
    if (call->record_count == 0)
        return lode_error_set(&job->err, LODE_ENOTFOUND, "no item has this SHA-256");
    first = &call->records_out[0];
    rc = item_list_duplicates(conn, req->job_arena, first->id, PROVENANCE_LIST_MAX, call->dups,
                              &call->dup_count, &job->err);
    if (rc != LODE_OK || !first->integrated)
        return rc;
    rc = ledger_checkpoint_latest(conn, &call->cp, &job->err);
    if (rc != LODE_OK)
        return rc;
    if (call->cp.size <= first->ledger_index)
        return LODE_OK;
    call->has_proof = true;
    return ledger_prove_inclusion(conn, first->ledger_index, call->cp.size, call->proof,
                                  &call->proof_count, &job->err);
}

static void after_provenance(struct request *req)
{
    struct items_call *call = req->user;
    const struct item_record *first = &call->records_out[0];
    json_t *body, *copies, *dups;

    if (req->job.result != LODE_OK) {
        reply_problem(req, &req->job.err);
        return;
    }
    copies = json_array();
    for (int i = 1; i < call->record_count; i++)
        json_array_append_new(copies, record_json(&call->records_out[i]));
    dups = json_array();
    for (int i = 0; i < call->dup_count; i++)
        json_array_append_new(dups, record_json(&call->dups[i]));
    body = json_pack("{s:o, s:I, s:o, s:o, s:o}", "sha256", json_hex(call->sha256, 32), "bytes",
                     (json_int_t)first->bytes, "item", record_json(first), "copies", copies,
                     "duplicates", dups);
    if (call->has_proof) {
        json_t *proof = json_array();
        char root[BASE64_ENCODED_BYTES(MERKLE_HASH_BYTES)];
        for (size_t k = 0; k < call->proof_count; k++)
            json_array_append_new(proof, json_base64(call->proof[k], MERKLE_HASH_BYTES));
        base64_encode(call->cp.root, MERKLE_HASH_BYTES, root);
        json_object_set_new(body, "checkpoint",
                            json_pack("{s:I, s:s, s:s%}", "size", (json_int_t)call->cp.size, "root",
                                      root, "note", call->cp.note, call->cp.note_len));
        json_object_set_new(body, "inclusion_proof", proof);
    } else {
        json_object_set_new(body, "checkpoint", json_null());
        json_object_set_new(body, "inclusion_proof", json_null());
    }
    reply_json(req, 200, body);
}

/*
 * GET /v1/items/{sha256}   the first item with these bytes: contributor, dataset, time,
 * signature, ledger position and verdicts; the other items with the same bytes; the items
 * recorded as its duplicates; its inclusion proof against the latest checkpoint.
 * 200 | 401 | 404
 */
void handle_items_get(struct request *req)
{
    struct items_call *call = call_new(req);
    struct lode_error err;

    if (!parse_hash(req, call, &err)) {
        reply_problem(req, &err);
        return;
    }
    call->records_out = arena_calloc(req->arena, PROVENANCE_LIST_MAX, sizeof *call->records_out);
    call->dups = arena_calloc(req->arena, PROVENANCE_LIST_MAX, sizeof *call->dups);
    if (call->records_out == NULL || call->dups == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "could not hold the provenance");
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_provenance, after_provenance);
}

static enum lode_code run_content(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct items_call *call = req->user;
    enum lode_code rc;

    rc = item_list_by_hash(conn, req->job_arena, call->sha256, 1, call->records_out,
                           &call->record_count, &job->err);
    if (rc != LODE_OK)
        return rc;
    if (call->record_count == 0)
        return lode_error_set(&job->err, LODE_ENOTFOUND, "no item has this SHA-256");
    return blob_get(blob_store_postgres(), conn, call->sha256, req->job_arena, &call->content,
                    &call->content_len, &job->err);
}

static void after_content(struct request *req)
{
    struct items_call *call = req->user;
    char hex[HEX_ENCODED_BYTES(32)];

    if (req->job.result != LODE_OK) {
        reply_problem(req, &req->job.err);
        return;
    }
    hex_encode(call->sha256, 32, hex);
    reply_header(req, "etag", arena_sprintf(req->arena, "\"%s\"", hex));
    reply_header(req, "cache-control", "private, max-age=31536000, immutable");
    if (call->records_out[0].filename[0] != '\0')
        reply_header(req, "content-disposition",
                     arena_sprintf(req->arena, "attachment; filename=\"%s\"",
                                   call->records_out[0].filename));
    reply_text(req, 200,
               arena_strndup(req->arena, call->records_out[0].media_type,
                             strlen(call->records_out[0].media_type)),
               (const char *)call->content, call->content_len);
}

/* GET /v1/items/{sha256}/content   the bytes, decompressed, with their media type
 * 200 | 401 | 404 */
void handle_items_content(struct request *req)
{
    struct items_call *call = call_new(req);
    struct lode_error err;

    if (!parse_hash(req, call, &err)) {
        reply_problem(req, &err);
        return;
    }
    call->records_out = arena_calloc(req->arena, 1, sizeof *call->records_out);
    if (call->records_out == NULL) {
        lode_error_set(&err, LODE_ENOMEM, "could not hold the item");
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_content, after_content);
}
