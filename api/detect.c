/*
 * api/detect.c — POST /v1/detect: score a text for how likely it is machine-generated.
 *
 * The model is loaded once at start (api_serve) and shared read-only by every thread. Scoring
 * is CPU work of up to a few milliseconds for the largest accepted text, so it runs on a
 * worker thread (the database pool's; the connection is not used), never on an event loop.
 * Each account may score DETECT_BURST texts at once and DETECT_PER_SECOND per second after.
 */
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"
#include "core/json.h"
#include "detector/detector.h"

#define DETECT_TEXT_BYTES_MAX (64 * 1024)
#define DETECT_BURST 20.0
#define DETECT_PER_SECOND 5.0

struct detect_call {
    const char *text;
    size_t len;
    struct detector_result result;
};

static enum lode_code run_detect(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    struct detect_call *call = req->user;
    (void)conn;
    return detector_score(req->server->detector, call->text, call->len, &call->result, &job->err);
}

static void after_detect(struct request *req)
{
    struct detect_call *call = req->user;
    const struct detector_result *r = &call->result;
    json_t *evidence = json_array();

    if (req->job.result != LODE_OK) {
        reply_problem(req, &req->job.err);
        return;
    }
    for (size_t i = 0; i < r->evidence_count; i++)
        json_array_append_new(evidence,
                              json_pack("{s:s, s:s, s:f, s:f}", "feature", r->evidence[i].feature,
                                        "explanation", r->evidence[i].explanation, "value",
                                        r->evidence[i].value, "contribution",
                                        r->evidence[i].contribution));
    reply_json(req, 200,
               json_pack("{s:s, s:o, s:s, s:o, s:I, s:b, s:I, s:s}", "verdict",
                         detector_verdict_name(r->verdict), "score",
                         r->has_probability ? json_real(r->probability) : json_null(), "reason",
                         r->reason, "evidence", evidence, "words", (json_int_t)r->words,
                         "truncated", r->truncated, "lines_left_out",
                         (json_int_t)r->lines_left_out, "model_version",
                         detector_model_version(req->server->detector)));
}

/*
 * POST /v1/detect   body: {"text": "..."}
 * 200 verdict | 400 | 401 | 413 | 415 | 429 rate limited | 503 no model loaded
 */
void handle_detect(struct request *req)
{
    static const char *const fields[] = {"text", NULL};
    struct detect_call *call = arena_calloc(req->arena, 1, sizeof *call);
    struct lode_error err;
    int remaining = 0, retry = 0;
    json_t *body;

    req->user = call;
    if (req->server->detector == NULL) {
        lode_error_set(&err, LODE_EUNAVAIL, "no detector model is loaded on this server");
        err.retry_after_s = 60;
        goto problem;
    }
    if (!ratelimit_take(req->principal.account_id, DETECT_BURST, DETECT_PER_SECOND, &remaining,
                        &retry)) {
        lode_error_set(&err, LODE_ERATELIMIT, "at most %.0f texts per second may be scored",
                       DETECT_PER_SECOND);
        err.retry_after_s = retry;
        goto problem;
    }
    reply_header(req, "ratelimit-limit", "20");
    reply_header(req, "ratelimit-remaining", arena_sprintf(req->arena, "%d", remaining));
    body = request_json_fields(req, fields, &err);
    if (body == NULL ||
        json_get_string(body, "text", true, LODE_BODY_BYTES_MAX, &call->text, &err) != LODE_OK)
        goto problem;
    call->len = strlen(call->text);
    if (call->len > DETECT_TEXT_BYTES_MAX) {
        lode_error_set(&err, LODE_ETOOBIG, "text is %zu bytes; at most %d may be scored here",
                       call->len, DETECT_TEXT_BYTES_MAX);
        lode_error_hint(&err, "lode detect scores large files offline");
        goto problem;
    }
    request_run_db(req, run_detect, after_detect);
    return;
problem:
    reply_problem(req, &err);
}
