/*
 * api/system.c — operational endpoints: /healthz, /readyz, /metrics, /openapi.json, and the
 * /debug/sleep route that exists only on servers started with --debug-routes (tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/handlers.h"
#include "api/internal.h"

/* GET /healthz — 200 while the process runs its loops; no database access. */
void handle_healthz(struct request *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    reply_text(req, 200, "application/json", body, sizeof body - 1);
}

static enum lode_code run_readyz(struct db_conn *conn, struct db_job *job)
{
    enum lode_code rc = db_ping(conn, &job->err);
    if (rc != LODE_OK)
        return rc;
    return db_migrations_current(conn, &job->err);
}

static void after_readyz(struct request *req)
{
    json_t *body;

    if (req->job.result != LODE_OK) {
        struct lode_error err = req->job.err;
        err.code = LODE_EUNAVAIL;
        if (err.message[0] == '\0')
            lode_error_set(&err, LODE_EUNAVAIL, "the database is not ready");
        err.retry_after_s = 5;
        reply_problem(req, &err);
        return;
    }
    body = json_pack("{s:s, s:s, s:s}", "status", "ready", "database", "ok", "migrations",
                     "current");
    reply_json(req, 200, body);
}

/* GET /readyz — 200 when PostgreSQL answers and every migration is applied; 503 otherwise. */
void handle_readyz(struct request *req)
{
    request_run_db(req, run_readyz, after_readyz);
}

/* GET /metrics — Prometheus text exposition. */
void handle_metrics(struct request *req)
{
    size_t len = 0;
    char *text = metrics_render(req->arena, req->server, &len);
    reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* GET /openapi.json — the OpenAPI 3.1 description compiled into the binary. */
void handle_openapi(struct request *req)
{
    reply_header(req, "cache-control", "public, max-age=300");
    reply_text(req, 200, "application/json", lode_openapi_json, lode_openapi_json_len);
}

static enum lode_code run_sleep(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    int ms = *(int *)req->user;
    char sql[96];
    snprintf(sql, sizeof sql, "DO $$BEGIN PERFORM pg_sleep(%d / 1000.0); END$$", ms);
    return db_exec(conn, sql, &job->err);
}

static void after_sleep(struct request *req)
{
    if (req->job.result != LODE_OK) {
        reply_problem(req, &req->job.err);
        return;
    }
    reply_json(req, 200, json_pack("{s:i}", "slept_ms", *(int *)req->user));
}

/* GET /debug/sleep?ms=N — holds one database connection for N ms (0..10000). */
void handle_debug_sleep(struct request *req)
{
    struct lode_error err;
    const char *v = NULL;
    int *ms = arena_alloc(req->arena, sizeof *ms);
    char *end = NULL;

    if (!request_query(req, "ms", &v, &err)) {
        reply_problem(req, &err);
        return;
    }
    long n = v != NULL ? strtol(v, &end, 10) : 1000;
    if (v != NULL && (*end != '\0' || n < 0 || n > 10000)) {
        lode_error_set(&err, LODE_EINVAL, "query parameter \"ms\" must be an integer from 0 to 10000");
        lode_error_pointer(&err, "ms");
        reply_problem(req, &err);
        return;
    }
    *ms = (int)n;
    req->user = ms;
    request_run_db(req, run_sleep, after_sleep);
}
