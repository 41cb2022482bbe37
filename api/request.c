/*
 * api/request.c — the protocol-neutral request: headers, body, routing, authentication,
 * database jobs, responses and RFC 9457 problems, access logs.
 */
#include <ctype.h>
#include <event2/event.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/internal.h"
#include "core/encoding.h"
#include "core/json.h"
#include "core/log.h"
#include "storage/idempotency_store.h"

uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool request_id_is_acceptable(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32)
        return false;
    for (; *s != '\0'; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

/* Request ids: 8 random bytes drawn once per thread, then a per-thread counter, so ids are
 * unique across threads and processes without a system call per request. */
static void next_request_id(uint8_t id[16])
{
    static _Thread_local uint8_t prefix[8];
    static _Thread_local uint64_t counter;

    if (counter == 0)
        randombytes_buf(prefix, sizeof prefix);
    counter++;
    memcpy(id, prefix, 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

struct request *request_new(struct conn *conn, int32_t stream_id)
{
    struct arena *arena = arena_create(LODE_REQUEST_ARENA_BYTES_MAX);
    struct request *req = arena_calloc(arena, 1, sizeof *req);
    uint8_t id[16];

    req->arena = arena;
    req->conn = conn;
    req->loop = conn->loop;
    req->server = conn->loop->server;
    req->stream_id = stream_id;
    req->route_index = -1;
    req->query = "";
    req->body_limit = 0;
    req->start_ns = monotonic_ns();
    next_request_id(id);
    hex_encode(id, sizeof id, req->request_id);
    req->next_in_conn = conn->requests;
    conn->requests = req;
    return req;
}

static void unlink_from_conn(struct request *req)
{
    if (req->conn == NULL)
        return;
    for (struct request **p = &req->conn->requests; *p != NULL; p = &(*p)->next_in_conn)
        if (*p == req) {
            *p = req->next_in_conn;
            break;
        }
    req->conn = NULL;
}

void request_free(struct request *req)
{
    if (req->deadline != NULL) {
        event_free(req->deadline);
        req->deadline = NULL;
    }
    unlink_from_conn(req);
    arena_destroy(req->arena); /* req itself lives in the arena */
}

void request_abandon(struct request *req)
{
    unlink_from_conn(req);
    if (req->ledger_waiting)
        ledger_forget_waiter(req);
    if (req->in_flight) {
        req->orphaned = true;
        return;
    }
    request_free(req);
}

static void set_early(struct request *req, enum lode_code code, const char *msg)
{
    if (req->early_error != LODE_OK)
        return;
    req->early_error = code;
    lode_error_set(&req->early_err, code, "%s", msg);
}

bool request_add_header(struct request *req, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    char *n, *v;

    req->header_bytes += name_len + value_len + 32; /* RFC 9113's accounting */
    if (req->header_bytes > LODE_HEADER_BYTES_MAX) {
        set_early(req, LODE_EHEADERS, "request header section is larger than 16384 bytes");
        return false;
    }
    if (req->header_count >= LODE_HEADER_COUNT_MAX) {
        set_early(req, LODE_EHEADERS, "request has more than 100 header fields");
        return false;
    }
    n = arena_strndup(req->arena, name, name_len);
    v = arena_strndup(req->arena, value, value_len);
    if (n == NULL || v == NULL) {
        set_early(req, LODE_EHEADERS, "request headers exceed the memory budget");
        return false;
    }
    for (char *p = n; *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    req->headers[req->header_count].name = n;
    req->headers[req->header_count].value = v;
    req->header_count++;
    if (strcmp(n, "x-request-id") == 0 && request_id_is_acceptable(v))
        snprintf(req->request_id, sizeof req->request_id, "%s", v);
    return true;
}

/* A qvalue: "0", "0.", "0.d{1,3}", "1", "1.", "1.0{1,3}"; -1 when malformed. */
static int qvalue_thousandths(const char *s, size_t n)
{
    int v = 0, digits = 0;
    if (n == 0 || (s[0] != '0' && s[0] != '1') || (n > 1 && s[1] != '.') || n > 5)
        return -1;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        digits++;
    }
    while (digits++ < 3)
        v *= 10;
    if (s[0] == '1')
        return v == 0 ? 1000 : -1;
    return v;
}

bool http_accepts_coding(const char *value, const char *coding)
{
    int named = -2, star = -1; /* -2: not named; -1: named or "*" with a malformed weight */
    size_t clen = strlen(coding);

    if (value == NULL || strlen(value) > ACCEPT_ENCODING_BYTES_MAX)
        return false;
    for (const char *p = value; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *e = p, *stop = p + n;
        int q = 1000;
        while (e < stop && (*e == ' ' || *e == '\t'))
            e++;
        const char *tok = e;
        while (e < stop && *e != ';' && *e != ' ' && *e != '\t')
            e++;
        size_t tlen = (size_t)(e - tok);
        /* parameters: only the weight means anything here */
        while (e < stop) {
            while (e < stop && (*e == ' ' || *e == '\t' || *e == ';'))
                e++;
            const char *name = e;
            while (e < stop && *e != '=' && *e != ';')
                e++;
            if (e >= stop || *e != '=') {
                q = e > name ? -1 : q; /* a parameter without a value is malformed */
                break;
            }
            size_t name_len = (size_t)(e - name);
            const char *val = ++e;
            while (e < stop && *e != ';' && *e != ' ' && *e != '\t')
                e++;
            if (name_len == 1 && (name[0] == 'q' || name[0] == 'Q'))
                q = qvalue_thousandths(val, (size_t)(e - val));
        }
        if (tlen == 1 && tok[0] == '*')
            star = q;
        else if (tlen == clen && strncasecmp(tok, coding, clen) == 0)
            named = q;
        p = end != NULL ? end + 1 : stop;
    }
    return named != -2 ? named > 0 : star > 0;
}

const char *request_header(const struct request *req, const char *lower_name)
{
    for (int i = 0; i < req->header_count; i++)
        if (strcmp(req->headers[i].name, lower_name) == 0)
            return req->headers[i].value;
    return NULL;
}

bool request_idempotency_key(struct request *req, bool required, const char **key_out,
                             struct lode_error *err)
{
    const char *key = request_header(req, "idempotency-key");

    *key_out = NULL;
    if (key == NULL && required) {
        lode_error_set(err, LODE_EINVAL,
                       "an Idempotency-Key header is required: this request moves money");
        lode_error_pointer(err, "Idempotency-Key");
        return false;
    }
    if (key != NULL && !idempotency_key_is_valid(key)) {
        lode_error_set(err, LODE_EINVAL,
                       "the Idempotency-Key must be 1 to %d printable ASCII characters",
                       IDEMPOTENCY_KEY_BYTES_MAX);
        lode_error_pointer(err, "Idempotency-Key");
        return false;
    }
    *key_out = key;
    return true;
}

enum lode_code request_idempotency_claim(struct db_conn *conn, struct request *req,
                                         const char *key, const uint8_t request_hash[32],
                                         struct idempotency_response *out,
                                         struct lode_error *err)
{
    enum lode_code rc = idempotency_begin(conn, req->job_arena, req->principal.account_id, key,
                                          request_hash, out, err);
    if (rc == LODE_ECONFLICT)
        return lode_error_set(err, LODE_ECONFLICT, "a request with this Idempotency-Key is still "
                                                   "running; retry shortly");
    return rc;
}

enum lode_code request_idempotency_finish_json(struct db_conn *conn, int64_t account_id,
                                               const char *key, const json_t *body,
                                               struct lode_error *err)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    enum lode_code rc;
    if (text == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not record the response");
    rc = idempotency_finish(conn, account_id, key, 201, "application/json", (const uint8_t *)text,
                            strlen(text), err);
    free(text);
    return rc;
}

bool request_append_body(struct request *req, const char *data, size_t len)
{
    if (req->body_too_large || req->early_error != LODE_OK)
        return false;
    if (len > req->body_limit - req->body_len) {
        req->body_too_large = true;
        return false;
    }
    if (req->sink.write != NULL) {
        struct lode_error err = {0};
        if (req->sink.write(req->sink.state, data, len, &err) != LODE_OK) {
            req->early_error = err.code;
            req->early_err = err;
            return false;
        }
        req->body_len += len;
        return true;
    }
    if (req->body_len + len > req->body_cap) {
        size_t cap = req->body_cap != 0 ? req->body_cap : 4096;
        while (cap < req->body_len + len)
            cap *= 2;
        if (cap > req->body_limit)
            cap = req->body_limit;
        char *nb = arena_alloc(req->arena, cap + 1);
        if (nb == NULL) {
            req->body_too_large = true;
            return false;
        }
        if (req->body_len != 0)
            memcpy(nb, req->body, req->body_len);
        req->body = nb;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return true;
}

/* Decodes %XX escapes; fails on a bad escape or an encoded NUL. */
static char *percent_decode(struct arena *a, const char *s, size_t len, bool plus_is_space)
{
    char *out = arena_alloc(a, len + 1);
    size_t j = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            uint8_t byte;
            size_t n;
            if (len - i < 3 || !hex_decode(s + i + 1, 2, &byte, 1, &n) || byte == 0)
                return NULL;
            out[j++] = (char)byte;
            i += 2;
        } else if (plus_is_space && s[i] == '+') {
            out[j++] = ' ';
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* Validates the target, splits path and query, matches the route, checks Content-Length. */
void request_headers_done(struct request *req)
{
    const char *target = req->target;
    const char *q;
    char allow[64];
    int index = -1;

    if (req->early_error != LODE_OK)
        return;
    if (req->method == NULL || target == NULL) {
        set_early(req, LODE_EINVAL, "request has no method or target");
        return;
    }
    if (strlen(target) > LODE_TARGET_BYTES_MAX) {
        set_early(req, LODE_EURITOOLONG, "request target is longer than 4096 bytes");
        return;
    }
    if (target[0] != '/') {
        set_early(req, LODE_EINVAL, "request target must be an absolute path");
        return;
    }
    q = strchr(target, '?');
    size_t path_len = q != NULL ? (size_t)(q - target) : strlen(target);
    if (q != NULL)
        req->query = q + 1;
    req->path = percent_decode(req->arena, target, path_len, false);
    if (req->path == NULL) {
        set_early(req, LODE_EINVAL, "request path has a malformed percent-encoding");
        return;
    }
    switch (router_match(req->arena, req->method, req->path, &index, req->params,
                         &req->param_count, allow, sizeof allow)) {
    case ROUTE_NO_PATH:
        set_early(req, LODE_ENOTFOUND, "no resource at this path");
        return;
    case ROUTE_NO_METHOD:
        set_early(req, LODE_EMETHOD, "method not allowed on this resource");
        reply_header(req, "allow", arena_strdup(req->arena, allow));
        return;
    case ROUTE_FOUND:
        break;
    }
    size_t count;
    req->route = &router_routes(&count)[index];
    req->route_index = index;
    req->body_limit = req->route->body_limit;
    const char *cl = request_header(req, "content-length");
    if (cl != NULL) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > req->body_limit) {
            req->body_too_large = true;
        }
    }
    if (!req->body_too_large)
        router_begin_body(req);
}

/* ---- responses ---- */

int api_status_for(enum lode_code code)
{
    switch (code) {
    case LODE_OK: return 200;
    case LODE_EINVAL: return 400;
    case LODE_EUNAUTH: return 401;
    case LODE_EFORBIDDEN: return 403;
    case LODE_ENOTFOUND: return 404;
    case LODE_EMETHOD: return 405;
    case LODE_ECONFLICT: return 409;
    case LODE_EGONE: return 410;
    case LODE_EPRECOND: return 412;
    case LODE_EREQTIMEOUT: return 408;
    case LODE_ETOOBIG: return 413;
    case LODE_EURITOOLONG: return 414;
    case LODE_EMEDIATYPE: return 415;
    case LODE_EUNPROCESSABLE: return 422;
    case LODE_ERATELIMIT: return 429;
    case LODE_EHEADERS: return 431;
    case LODE_EUNAVAIL: return 503;
    case LODE_ETIMEOUT: return 503;
    case LODE_EVERIFY: return 422;
    case LODE_EIO: return 500;
    case LODE_ENOMEM: return 503;
    case LODE_EINTERNAL: return 500;
    }
    return 500;
}

const char *api_status_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Unknown";
    }
}

void reply_header(struct request *req, const char *name, const char *value)
{
    if (req->resp_header_count >= RESPONSE_HEADERS_MAX || value == NULL)
        return;
    req->resp_headers[req->resp_header_count].name = name;
    req->resp_headers[req->resp_header_count].value = value;
    req->resp_header_count++;
}

static void access_log(struct request *req)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    uint64_t dur_us = (monotonic_ns() - req->start_ns) / 1000;
    json_t *path = json_string(req->target != NULL ? req->target : "");

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char *path_json = path != NULL ? json_dumps(path, JSON_ENCODE_ANY) : NULL;
    snprintf(line, sizeof line,
             "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"info\","
             "\"event\":\"request\",\"request_id\":\"%s\",\"proto\":\"%s\",\"method\":\"%.16s\","
             "\"target\":%.600s,\"status\":%d,\"bytes\":%zu,\"duration_us\":%llu,"
             "\"account\":%lld}",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, req->request_id, req->stream_id != 0 ? "h2" : "http/1.1",
             req->method != NULL ? req->method : "", path_json != NULL ? path_json : "\"\"",
             req->status, req->resp_body_len, (unsigned long long)dur_us,
             (long long)req->principal.account_id);
    free(path_json);
    json_decref(path);
    log_raw_json(line);
}

static void respond(struct request *req)
{
    if (req->responded)
        return;
    req->responded = true;
    if (req->deadline != NULL)
        event_del(req->deadline);
    metrics_record(req->route_index, req->status, monotonic_ns() - req->start_ns);
    if (log_get_level() <= LOG_INFO)
        access_log(req);
    if (req->conn == NULL)
        return;
    if (req->stream_id != 0)
        h2_send_response(req);
    else
        h1_send_response(req);
}

void reply_text(struct request *req, int status, const char *content_type, const char *body,
                size_t len)
{
    req->status = status;
    req->resp_content_type = content_type;
    req->resp_body = body;
    req->resp_body_len = len;
    respond(req);
}

void reply_empty(struct request *req, int status)
{
    reply_text(req, status, NULL, NULL, 0);
}

void reply_json(struct request *req, int status, json_t *body)
{
    char *text;

    if (body == NULL) {
        reply_empty(req, status);
        return;
    }
    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (text == NULL) {
        struct lode_error err;
        lode_error_set(&err, LODE_EINTERNAL, "could not render the response");
        reply_problem(req, &err);
        return;
    }
    size_t n = strlen(text);
    char *copy = arena_strndup(req->arena, text, n);
    free(text);
    if (copy == NULL) {
        struct lode_error err;
        lode_error_set(&err, LODE_ENOMEM, "response is larger than the request's memory budget");
        reply_problem(req, &err);
        return;
    }
    reply_text(req, status, "application/json", copy, n);
}

void reply_problem(struct request *req, const struct lode_error *err)
{
    int status = api_status_for(err->code);
    json_t *p = json_object();
    char type[96];

    if (status >= 500 && err->code != LODE_EUNAVAIL && err->code != LODE_ETIMEOUT &&
        err->code != LODE_ENOMEM)
        log_emit(LOG_ERROR, "internal_error", "request_id", req->request_id, "message",
                 err->message, "log_detail", err->log_detail, LOG_END);
    else if (err->log_detail[0] != '\0')
        log_emit(LOG_DEBUG, "problem_detail", "request_id", req->request_id, "log_detail",
                 err->log_detail, LOG_END);
    snprintf(type, sizeof type, "urn:lode:problem:%s", lode_code_name(err->code));
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(api_status_reason(status)));
    json_object_set_new(p, "status", json_integer(status));
    /* messages come from our own format strings, but may quote client bytes */
    json_t *detail = json_string(err->message[0] != '\0' ? err->message : api_status_reason(status));
    json_object_set_new(p, "detail", detail != NULL ? detail : json_string("invalid input"));
    if (req->target != NULL) {
        json_t *inst = json_stringn(req->path != NULL ? req->path : req->target,
                                    strlen(req->path != NULL ? req->path : req->target));
        if (inst != NULL)
            json_object_set_new(p, "instance", inst);
    }
    json_object_set_new(p, "request_id", json_string(req->request_id));
    if (err->pointer[0] != '\0') {
        json_t *ptr = json_string(err->pointer);
        if (ptr != NULL)
            json_object_set_new(p, "pointer", ptr);
    }
    if (err->hint[0] != '\0') {
        json_t *hint = json_string(err->hint);
        if (hint != NULL)
            json_object_set_new(p, "hint", hint);
    }
    if (status == 401)
        reply_header(req, "www-authenticate", "Bearer realm=\"lode\"");
    if (status == 503 || status == 429) {
        int s = err->retry_after_s > 0 ? err->retry_after_s : 1;
        reply_header(req, "retry-after", arena_sprintf(req->arena, "%d", s));
    }
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    size_t n = text != NULL ? strlen(text) : 0;
    char *copy = text != NULL ? arena_strndup(req->arena, text, n) : NULL;
    free(text);
    if (copy == NULL) {
        copy = "{\"type\":\"urn:lode:problem:internal\",\"status\":500}";
        n = strlen(copy);
        status = 500;
    }
    reply_text(req, status, "application/problem+json", copy, n);
}

/* ---- request helpers ---- */

bool request_query(struct request *req, const char *name, const char **value_out,
                   struct lode_error *err)
{
    const char *p = req->query;
    size_t name_len = strlen(name);

    *value_out = NULL;
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t key_len = eq != NULL ? (size_t)(eq - p) : len;
        if (key_len == name_len && memcmp(p, name, name_len) == 0) {
            const char *v = eq != NULL ? eq + 1 : p + len;
            size_t vlen = eq != NULL ? len - key_len - 1 : 0;
            char *decoded = percent_decode(req->arena, v, vlen, true);
            if (decoded == NULL) {
                lode_error_set(err, LODE_EINVAL,
                               "query parameter \"%s\" has a malformed percent-encoding", name);
                return false;
            }
            *value_out = decoded;
            return true;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return true;
}

enum lode_code request_param_id(struct request *req, int i, int64_t *id_out,
                                struct lode_error *err)
{
    const char *s = i < req->param_count ? req->params[i] : NULL;
    int64_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return lode_error_set(err, LODE_ENOTFOUND, "no such resource: \"%.40s\" is not an id",
                              s != NULL ? s : "");
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return lode_error_set(err, LODE_ENOTFOUND,
                                  "no such resource: \"%.40s\" is not an id", s);
        v = v * 10 + (*p - '0');
    }
    if (v <= 0)
        return lode_error_set(err, LODE_ENOTFOUND, "no such resource: ids start at 1");
    *id_out = v;
    return LODE_OK;
}

json_t *request_json_body(struct request *req, struct lode_error *err)
{
    const char *ct = request_header(req, "content-type");
    json_t *v;

    if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
        lode_error_set(err, LODE_EMEDIATYPE, "request body must be application/json, not \"%.60s\"",
                       ct);
        return NULL;
    }
    v = json_body_parse(req->body != NULL ? req->body : "", req->body_len, req->body_limit,
                        LODE_JSON_DEPTH_MAX, err);
    if (v == NULL)
        return NULL;
    if (!json_is_object(v)) {
        json_decref(v);
        lode_error_set(err, LODE_EINVAL, "request body must be a JSON object");
        return NULL;
    }
    return v;
}

json_t *request_json_fields(struct request *req, const char *const *fields,
                            struct lode_error *err)
{
    json_t *body = request_json_body(req, err);
    if (body == NULL)
        return NULL;
    request_own_json(req, body);
    return json_object_check_fields(body, fields, err) == LODE_OK ? body : NULL;
}

json_t *json_time_ms(int64_t ms)
{
    char buf[64];
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    if (ms == 0)
        return json_null();
    gmtime_r(&s, &tm);
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return json_string(buf);
}

json_t *json_hex(const uint8_t *bytes, size_t len)
{
    char *text = malloc(HEX_ENCODED_BYTES(len));
    json_t *v;

    if (text == NULL)
        return NULL;
    hex_encode(bytes, len, text);
    v = json_string(text);
    free(text);
    return v;
}

json_t *json_base64(const uint8_t *bytes, size_t len)
{
    char *text = malloc(BASE64_ENCODED_BYTES(len));
    json_t *v;

    if (text == NULL)
        return NULL;
    base64_encode(bytes, len, text);
    v = json_string(text);
    free(text);
    return v;
}

static void decref(void *value)
{
    json_decref(value);
}

void request_own_json(struct request *req, json_t *value)
{
    arena_defer(req->arena, decref, value);
}

void request_job_own_json(struct request *req, json_t *value)
{
    arena_defer(req->job_arena, decref, value);
}

/* ---- database jobs ---- */

bool request_job_failed(struct request *req)
{
    if (req->job.result == LODE_OK)
        return false;
    reply_problem(req, &req->job.err);
    return true;
}

static void destroy_arena(void *a)
{
    arena_destroy(a);
}

static void job_done(struct db_job *job)
{
    struct request *req = job->arg;
    struct loop *loop = req->loop;

    pthread_mutex_lock(&loop->done_lock);
    req->next_done = NULL;
    if (loop->done_tail != NULL)
        loop->done_tail->next_done = req;
    else
        loop->done_head = req;
    loop->done_tail = req;
    pthread_mutex_unlock(&loop->done_lock);
    event_active(loop->done_event, EV_READ, 0);
}

/* Runs on the loop: the completion queue's event. */
void request_drain_completions(evutil_socket_t fd, short what, void *arg)
{
    struct loop *loop = arg;
    struct request *list;

    pthread_mutex_lock(&loop->done_lock);
    list = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    pthread_mutex_unlock(&loop->done_lock);
    while (list != NULL) {
        struct request *req = list;
        list = req->next_done;
        req->in_flight = false;
        if (req->orphaned) {
            request_free(req);
            continue;
        }
        if (req->responded) /* the deadline answered already */
            continue;
        req->continuation(req);
    }
}

void request_run_db(struct request *req,
                    enum lode_code (*run)(struct db_conn *conn, struct db_job *job),
                    void (*continuation)(struct request *req))
{
    struct lode_error err;

    memset(&req->job, 0, sizeof req->job);
    if (req->job_arena == NULL) {
        req->job_arena = arena_create(LODE_REQUEST_ARENA_BYTES_MAX);
        arena_defer(req->arena, destroy_arena, req->job_arena);
    }
    req->job.run = run;
    req->job.done = job_done;
    req->job.arg = req;
    req->continuation = continuation;
    req->in_flight = true;
    if (db_pool_submit(req->server->pool, &req->job) != LODE_OK) {
        req->in_flight = false;
        lode_error_set(&err, LODE_EUNAVAIL, "the server is busy; retry shortly");
        err.retry_after_s = 1;
        reply_problem(req, &err);
    }
}

/* ---- dispatch: authentication, roles, deadline, handler ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct request *req = arg;
    struct lode_error err;

    if (req->responded)
        return;
    lode_error_set(&err, LODE_ETIMEOUT, "the request took longer than its %d ms budget",
                   req->route->timeout_ms);
    err.retry_after_s = 1;
    reply_problem(req, &err);
}

static enum lode_code run_authenticate(struct db_conn *conn, struct db_job *job)
{
    struct request *req = job->arg;
    const char *auth = request_header(req, "authorization");
    return token_authenticate(conn, auth + 7, &req->principal, &job->err);
}

static void after_authenticate(struct request *req)
{
    struct lode_error err;

    if (req->job.result != LODE_OK) {
        if (req->job.result == LODE_EUNAUTH)
            lode_error_set(&err, LODE_EUNAUTH, "the bearer token is not valid");
        else
            err = req->job.err;
        reply_problem(req, &err);
        return;
    }
    req->authenticated = true;
    if (req->route->roles != ROLE_ANY_AUTHENTICATED && (req->principal.roles & req->route->roles) == 0) {
        lode_error_set(&err, LODE_EFORBIDDEN, "this account's roles do not allow %s %s",
                       req->route->method, req->route->pattern);
        reply_problem(req, &err);
        return;
    }
    req->route->handler(req);
}

void request_dispatch(struct request *req)
{
    struct lode_error err;

    if (req->responded)
        return;
    if (req->early_error == LODE_OK && req->route == NULL)
        request_headers_done(req);
    if (req->early_error != LODE_OK) {
        reply_problem(req, &req->early_err);
        return;
    }
    if (req->body_too_large) {
        lode_error_set(&err, LODE_ETOOBIG, "request body is larger than this route's limit of %zu bytes",
                       req->body_limit);
        reply_problem(req, &err);
        return;
    }
    if (req->route->timeout_ms > 0) {
        struct timeval tv = {req->route->timeout_ms / 1000, (req->route->timeout_ms % 1000) * 1000};
        req->deadline = evtimer_new(req->loop->base, on_deadline, req);
        evtimer_add(req->deadline, &tv);
    }
    if (req->route->roles == ROLE_PUBLIC) {
        req->route->handler(req);
        return;
    }
    const char *auth = request_header(req, "authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0') {
        lode_error_set(&err, LODE_EUNAUTH, "this resource needs an Authorization: Bearer token");
        reply_problem(req, &err);
        return;
    }
    if (!token_text_is_well_formed(auth + 7)) { /* no database round trip for garbage */
        lode_error_set(&err, LODE_EUNAUTH, "the bearer token is not valid");
        reply_problem(req, &err);
        return;
    }
    request_run_db(req, run_authenticate, after_authenticate);
}
